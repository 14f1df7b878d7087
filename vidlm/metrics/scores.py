"""Caption metrics on the COCO caption toolkit's scale: BLEU-1…4, METEOR, ROUGE-L, CIDEr(-D), corpus and per sample.

Why written here rather than taken from a library: `evaluate.load("bleu")` fetches its script from the Hugging Face
hub (unreachable offline) and `evaluate` has no CIDEr; pycocoevalcap, the reference implementation that papers and
lmms-eval report, needs Java for its tokenizer. So vidlm tokenises with a pure-Python equivalent of the PTB tokenizer
pycocoevalcap uses (`vidlm.metrics.ptb`) and computes BLEU, ROUGE-L and CIDEr-D in Python with pycocoevalcap's
exact formulas (smoothing constants, closest reference length, β = 1.2, σ = 6, the ×10 scale) — the test suite checks
equality with pycocoevalcap. METEOR 1.5 is a Java program: it runs through pycocoevalcap when Java and the `meteor`
extra are installed, and is otherwise reported as unavailable (None) with a warning — never replaced by nltk's
METEOR, which differs from METEOR 1.5 by up to 0.3.

>>> scores = score_captions(["a dog runs on the grass"], [["A dog is running on grass.", "a brown dog runs"]])
>>> scores["CIDEr"], scores.per_sample[0]["BLEU-1"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections import Counter
from functools import lru_cache
from typing import Literal

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
_MAX_N = 4
_TINY, _SMALL = 1e-15, 1e-9  # pycocoevalcap's BLEU smoothing: (correct + 1e-15) / (guessed + 1e-9)
_ROUGE_BETA = 1.2
_CIDER_SIGMA = 6.0


class CaptionScores(dict):
    """Corpus scores by metric name (a plain dict, JSON-ready); `.per_sample` holds one such dict per prediction."""

    def __init__(self, corpus: dict, per_sample: list[dict]):
        super().__init__(corpus)
        self.per_sample = per_sample


def score_captions(predictions: list[str], references: list[list[str]],
                   meteor: bool | Literal["auto"] = "auto") -> CaptionScores:
    """Score `predictions[i]` against its reference captions `references[i]`, as pycocoevalcap would.

    meteor: "auto" runs METEOR 1.5 when Java and pycocoevalcap are installed and otherwise reports None with a
    warning; True requires it (raises if unavailable); False skips it (None).
    """
    _check_inputs(predictions, references)
    from vidlm.metrics.ptb import ptb_tokenize_many

    preds = ptb_tokenize_many(list(predictions))
    refs_flat = ptb_tokenize_many([r for refs in references for r in refs])
    refs, start = [], 0
    for group in references:
        refs.append(refs_flat[start:start + len(group)])
        start += len(group)
    corpus_bleu, sample_bleu = bleu(preds, refs)
    corpus_rouge, sample_rouge = rouge_l(preds, refs)
    corpus_cider, sample_cider = cider_d(preds, refs)
    corpus_meteor, sample_meteor = meteor_scores(preds, refs, meteor)
    corpus = {**corpus_bleu, "METEOR": corpus_meteor, "ROUGE-L": corpus_rouge, "CIDEr": corpus_cider}
    per_sample = [
        {**{f"BLEU-{n}": sample_bleu[n - 1][i] for n in range(1, _MAX_N + 1)},
         "METEOR": sample_meteor[i], "ROUGE-L": sample_rouge[i], "CIDEr": sample_cider[i]}
        for i in range(len(preds))
    ]
    return CaptionScores({m: corpus[m] for m in METRICS}, per_sample)


def _check_inputs(predictions, references) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("predictions must be a list of strings and references a list of lists of strings")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference lists")
    if not predictions:
        raise ValueError("no predictions to score")
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        if not isinstance(pred, str):
            raise TypeError(f"predictions[{i}] must be a string, got {type(pred).__name__}: {pred!r}")
        if isinstance(refs, str) or not refs or not all(isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a non-empty list of strings, got {refs!r}")


@lru_cache(maxsize=2**16)  # BLEU and CIDEr count the same sentences: count each once (callers never mutate it)
def _ngrams(sentence: str) -> Counter:
    """Counts of every 1- to 4-gram (as tuples) of a tokenised sentence, split on whitespace."""
    words = sentence.split()
    counts = Counter()
    for n in range(1, _MAX_N + 1):
        counts.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return counts


def bleu(predictions: list[str], references: list[list[str]]) -> tuple[dict[str, float], list[list[float]]]:
    """BLEU-1…4 of tokenised captions: corpus scores and, per n, the per-sample scores (pycocoevalcap's rules)."""
    correct_total, guess_total = [0] * _MAX_N, [0] * _MAX_N
    test_total = ref_total = 0
    per_sample = [[] for _ in range(_MAX_N)]
    for pred, refs in zip(predictions, references):
        test_len = len(pred.split())
        ref_lens, max_ref = [], Counter()
        for ref in refs:
            ref_lens.append(len(ref.split()))
            max_ref |= _ngrams(ref)
        ref_len = min((abs(n - test_len), n) for n in ref_lens)[1]  # closest; the shorter one on ties
        correct, guess = [0] * _MAX_N, [max(test_len - n, 0) for n in range(_MAX_N)]
        for gram, count in _ngrams(pred).items():
            correct[len(gram) - 1] += min(count, max_ref[gram])
        _accumulate_bleu(per_sample, correct, guess, test_len, ref_len)
        for k in range(_MAX_N):
            correct_total[k] += correct[k]
            guess_total[k] += guess[k]
        test_total += test_len
        ref_total += ref_len
    corpus = [[] for _ in range(_MAX_N)]
    _accumulate_bleu(corpus, correct_total, guess_total, test_total, ref_total)
    return {f"BLEU-{k + 1}": corpus[k][0] for k in range(_MAX_N)}, per_sample


def _accumulate_bleu(out: list[list[float]], correct, guess, test_len: int, ref_len: float) -> None:
    product = 1.0
    ratio = (test_len + _TINY) / (ref_len + _SMALL)
    brevity = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    for k in range(_MAX_N):
        product *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        out[k].append(product ** (1 / (k + 1)) * brevity)


def rouge_l(predictions: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """ROUGE-L (LCS F-measure, β = 1.2, best precision and best recall over the references): mean and per sample."""
    scores = []
    for pred, refs in zip(predictions, references):
        cand = pred.split(" ")  # split on single spaces, as pycocoevalcap does ("" is one empty token)
        best_prec = best_rec = 0.0
        for ref in refs:
            ref_tokens = ref.split(" ")
            lcs = _lcs(ref_tokens, cand)
            best_prec = max(best_prec, lcs / len(cand))
            best_rec = max(best_rec, lcs / len(ref_tokens))
        if best_prec and best_rec:
            beta2 = _ROUGE_BETA ** 2
            scores.append((1 + beta2) * best_prec * best_rec / (best_rec + beta2 * best_prec))
        else:
            scores.append(0.0)
    return sum(scores) / len(scores), scores


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (one row of the DP table at a time)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for token in a:
        diagonal = 0
        for j, other in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if token == other else (above if above > row[j - 1] else row[j - 1])
            diagonal = above
    return row[-1]


def cider_d(predictions: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """CIDEr-D as pycocoevalcap computes it (its "CIDEr"): tf-idf n-gram cosine with clipping and a length penalty.

    Document frequencies come from the references of this corpus, so scores depend on the whole set scored.
    """
    pred_counts = [_ngrams(p) for p in predictions]
    ref_counts = [[_ngrams(r) for r in refs] for refs in references]
    doc_freq = Counter()
    for refs in ref_counts:
        doc_freq.update(set().union(*refs))
    log_docs = math.log(float(len(ref_counts)))

    def vector(counts: Counter):
        vec, norm = [{} for _ in range(_MAX_N)], [0.0] * _MAX_N
        length = 0
        for gram, tf in counts.items():
            n = len(gram) - 1
            weight = tf * (log_docs - math.log(max(1.0, doc_freq[gram])))
            vec[n][gram] = weight
            norm[n] += weight * weight
            if n == 1:  # pycocoevalcap's "length" counts bigrams; kept for identical scores
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    scores = []
    for counts, refs in zip(pred_counts, ref_counts):
        vec, norm, length = vector(counts)
        total = 0.0
        for ref in refs:
            vec_ref, norm_ref, length_ref = vector(ref)
            penalty = math.exp(-((length - length_ref) ** 2) / (2 * _CIDER_SIGMA ** 2))
            for n in range(_MAX_N):
                val = sum(min(w, vec_ref[n].get(g, 0.0)) * vec_ref[n].get(g, 0.0) for g, w in vec[n].items())
                if norm[n] and norm_ref[n]:
                    val /= norm[n] * norm_ref[n]
                total += val * penalty
        scores.append(total / _MAX_N / len(refs) * 10.0)
    return sum(scores) / len(scores), scores


def meteor_available() -> str | None:
    """None when METEOR 1.5 can run here; otherwise the reason it cannot."""
    if shutil.which("java") is None:
        return "Java is not installed (Debian: apt-get install default-jre-headless)"
    try:
        import pycocoevalcap.meteor.meteor  # noqa: F401
    except ImportError:
        return "pycocoevalcap is not installed (pip install 'vidlm[meteor]')"
    return None


def meteor_scores(predictions: list[str], references: list[list[str]], meteor: bool | str = "auto"):
    """METEOR 1.5 of tokenised captions through pycocoevalcap's Java wrapper: (corpus, per sample), or Nones."""
    missing = [None] * len(predictions)
    if meteor is False:
        return None, missing
    reason = meteor_available()
    if reason:
        if meteor is True:
            raise RuntimeError(f"METEOR 1.5 cannot run: {reason}")
        warnings.warn(f"METEOR reported as None: {reason}. (nltk's METEOR is not substituted: it differs from "
                      "METEOR 1.5 by up to 0.3.)", stacklevel=3)
        return None, missing
    from pycocoevalcap.meteor.meteor import Meteor

    keys = [str(i) for i in range(len(predictions))]
    scorer = Meteor()  # starts the JVM; stopped when the scorer is garbage-collected
    corpus, per_sample = scorer.compute_score(dict(zip(keys, references)), {k: [p] for k, p in zip(keys, predictions)})
    del scorer
    return float(corpus), [float(s) for s in per_sample]
