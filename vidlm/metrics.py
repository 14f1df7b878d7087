"""Caption metrics that work offline.

Written here rather than taken from `evaluate` because `evaluate.load("bleu")` fetches its script from the
Hugging Face hub, which is unreachable offline, and `evaluate` has no CIDEr. BLEU follows pycocoevalcap's
corpus-level computation (clipped n-gram counts summed over the corpus, the closest reference length for the
brevity penalty, the same smoothing constants) on captions tokenised by `tokenize` — with one deliberate
difference: where no prediction in the corpus has n words, BLEU-n is 0 (pycocoevalcap's constants give 10^(9/n)).
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers; punctuation dropped (as the COCO toolkit does after PTB tokenisation)."""
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu(predictions: list[str], references: list[list[str]], max_n: int = 4) -> dict[str, float]:
    """Corpus BLEU-1 … BLEU-`max_n` in [0, 1]: `references[i]` are the reference captions of `predictions[i]`."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference lists")
    if not predictions:
        raise ValueError("no predictions to score")
    correct, guessed = [0] * max_n, [0] * max_n
    test_len = ref_len = 0
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        if isinstance(refs, str) or not refs:
            raise ValueError(f"references[{i}] must be a non-empty list of strings, got {refs!r}")
        words, ref_words = tokenize(pred), [tokenize(r) for r in refs]
        test_len += len(words)
        ref_len += min((abs(len(r) - len(words)), len(r)) for r in ref_words)[1]  # closest, shorter on ties
        for n in range(1, max_n + 1):
            counts = _ngrams(words, n)
            best = Counter()
            for r in ref_words:
                best |= _ngrams(r, n)
            correct[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            guessed[n - 1] += max(len(words) - n + 1, 0)
    tiny, small = 1e-9, 1e-15
    brevity = 1.0 if test_len >= ref_len else math.exp(1 - ref_len / (test_len + tiny))
    scores, log_sum = {}, 0.0
    for n in range(1, max_n + 1):
        if guessed[n - 1] == 0:  # no prediction has n words: nothing to credit (pycocoevalcap would give ~10^(9/n))
            scores[f"BLEU-{n}"] = 0.0
            continue
        log_sum += math.log((correct[n - 1] + tiny) / (guessed[n - 1] + small))
        scores[f"BLEU-{n}"] = math.exp(log_sum / n) * brevity
    return scores
