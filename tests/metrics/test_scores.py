import json
import math
import shutil

import pytest

from helpers.caption_cases import PREDICTIONS, REFERENCES
from helpers.coco_reference import coco_scores
from vidlm.metrics.scores import METRICS, bleu, cider_d, rouge_l, score_captions


def test_scores_equal_pycocoevalcap_on_hard_captions():
    """Punctuation, contractions, case, hyphens, numbers, unicode, an empty prediction: every score within 1e-4."""
    assert shutil.which("java"), "Java is required (make setup installs it): it runs pycocoevalcap's reference"
    ours = score_captions(PREDICTIONS, REFERENCES, meteor=True)
    corpus, per_sample = coco_scores(PREDICTIONS, REFERENCES)
    assert list(ours) == list(METRICS)
    for metric in METRICS:
        assert ours[metric] == pytest.approx(corpus[metric], abs=1e-4), metric
        for i, sample in enumerate(ours.per_sample):
            assert sample[metric] == pytest.approx(float(per_sample[metric][i]), abs=1e-4), (metric, i)
    assert ours.per_sample[2]["CIDEr"] == 0.0 and ours.per_sample[2]["BLEU-1"] < 1e-6  # the empty prediction
    assert 0.1 < ours["CIDEr"] < 10 and 0 < ours["METEOR"] < 1


def test_hand_computed_bleu_with_brevity_penalty():
    # prediction "the cat the cat" (4 words), reference "the cat sat on the mat" (6 words)
    # 1-grams: the x2 (ref has 2) -> 2, cat x2 (ref has 1) -> 1: 3 correct of 4
    # 2-grams: "the cat" x2 (ref has 1) -> 1, "cat the" x1 (ref has 0) -> 0: 1 correct of 3
    # brevity penalty: exp(1 - 6/4) = exp(-0.5)
    corpus, per_sample = bleu(["the cat the cat"], [["the cat sat on the mat"]])
    bp = math.exp(-0.5)
    assert corpus["BLEU-1"] == pytest.approx(3 / 4 * bp, rel=1e-6)
    assert corpus["BLEU-2"] == pytest.approx(math.sqrt(3 / 4 * 1 / 3) * bp, rel=1e-6)
    assert per_sample[0] == [pytest.approx(corpus["BLEU-1"])]


def test_bleu_clips_by_the_max_count_in_any_one_reference_and_uses_the_closest_length():
    corpus, _ = bleu(["the the the"], [["the cat", "the the dog"]])  # max "the" count in one reference: 2
    assert corpus["BLEU-1"] == pytest.approx(2 / 3, rel=1e-6)
    corpus, _ = bleu(["a b c d"], [["a b c d e", "a b c"]])  # 3 and 5 equally close: 3, so no penalty
    assert corpus["BLEU-1"] == pytest.approx(1.0, abs=1e-6)


def test_short_predictions_keep_bleu_in_range():
    corpus, _ = bleu(["a cat"], [["a cat"]])  # no 3- or 4-grams: pycocoevalcap's smoothing gives (1e-6)^(1/n)
    assert corpus["BLEU-2"] == pytest.approx(1.0) and corpus["BLEU-3"] == pytest.approx(1e-2, rel=1e-3)
    assert all(0 <= v <= 1 for v in corpus.values())


def test_hand_computed_rouge_l():
    # LCS("a b c d", "a c d e f") = 3 ("a c d"): precision 3/4, recall 3/5, beta 1.2
    mean, per_sample = rouge_l(["a b c d"], [["a c d e f"]])
    p, r, b2 = 3 / 4, 3 / 5, 1.44
    assert mean == per_sample[0] == pytest.approx((1 + b2) * p * r / (r + b2 * p))


def test_cider_is_10_for_exact_matches_with_distinct_references():
    refs = [["a dog runs fast"], ["the cat sleeps now"]]  # 4 words: every n-gram order from 1 to 4 exists
    mean, per_sample = cider_d(["a dog runs fast", "the cat sleeps now"], refs)
    assert mean == pytest.approx(10.0) and per_sample == [pytest.approx(10.0)] * 2
    # 3 words have no 4-gram: that order scores 0, so an exact match gets 3/4 of 10
    _, per_sample = cider_d(["a dog runs", "the cat sleeps"], [["a dog runs"], ["the cat sleeps"]])
    assert per_sample == [pytest.approx(7.5)] * 2


def test_scores_are_a_json_ready_dict_with_per_sample_rows():
    scores = score_captions(["a dog runs", "a cat"], [["a dog is running"], ["a cat sleeps", "the cat"]],
                            meteor=False)
    assert json.loads(json.dumps(scores)) == dict(scores)
    assert scores["METEOR"] is None and len(scores.per_sample) == 2
    assert set(scores.per_sample[0]) == set(METRICS)


def test_without_java_meteor_is_none_with_a_warning_never_a_substitute(monkeypatch):
    import vidlm.metrics.scores

    monkeypatch.setattr(vidlm.metrics.scores.shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="METEOR reported as None: Java is not installed"):
        scores = score_captions(["a dog"], [["a dog runs"]])
    assert scores["METEOR"] is None and scores.per_sample[0]["METEOR"] is None
    assert scores["BLEU-1"] > 0
    with pytest.raises(RuntimeError, match="METEOR 1.5 cannot run: Java is not installed"):
        score_captions(["a dog"], [["a dog runs"]], meteor=True)


@pytest.mark.parametrize("predictions, references, error", [
    (["a red circle"], [["a red circle"], ["a blue square"]], ValueError),  # length mismatch
    ([], [], ValueError),  # nothing to score
    (["a red circle"], ["a red circle"], ValueError),  # references[0] is a bare string
    (["a red circle"], [[]], ValueError),  # no references for a prediction
    ([None], [["a"]], TypeError),  # a prediction that is not text
    ("a red circle", [["a"]], TypeError),  # predictions given as one string
])
def test_bad_inputs_raise_with_the_position(predictions, references, error):
    with pytest.raises(error):
        score_captions(predictions, references, meteor=False)


def test_evaluate_modules_load_offline_and_combine(monkeypatch):
    import evaluate

    from vidlm.metrics.modules import module_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    combined = evaluate.combine([evaluate.load(module_path(n)) for n in ("bleu", "rouge", "cider")])
    got = combined.compute(predictions=PREDICTIONS, references=REFERENCES)
    expected = score_captions(PREDICTIONS, REFERENCES, meteor=False)
    assert set(got) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"}
    assert all(got[k] == pytest.approx(expected[k], abs=1e-12) for k in got)
    meteor = evaluate.load(module_path("meteor")).compute(predictions=PREDICTIONS[:3], references=REFERENCES[:3])
    assert meteor["METEOR"] == pytest.approx(score_captions(PREDICTIONS[:3], REFERENCES[:3], meteor=True)["METEOR"])
    with pytest.raises(ValueError, match="Unknown caption metric module 'spice'"):
        module_path("spice")


def test_python_tokenizer_equals_the_ptb_tokenizer_on_the_same_captions():
    import contextlib
    import io

    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from vidlm.metrics.ptb import ptb_tokenize_many

    assert shutil.which("java"), "Java is required (make setup installs it): it runs pycocoevalcap's PTB tokenizer"
    captions = PREDICTIONS + [r for refs in REFERENCES for r in refs]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        java = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    assert ptb_tokenize_many(captions) == [java[i][0] for i in range(len(captions))]
