import math

import pytest

from vidlm.metrics import bleu, tokenize


def test_identical_captions_score_one():
    captions = ["a red circle moves left across the frame", "a small blue square moves up slowly"]
    scores = bleu(captions, [[c] for c in captions])
    assert list(scores) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]
    for value in scores.values():
        assert value == pytest.approx(1.0, abs=1e-9)


def test_hand_computed_bleu_with_brevity_penalty():
    # prediction "the cat the cat" (4 words), reference "the cat sat on the mat" (6 words)
    # 1-grams: the x2 (ref has 2) -> 2, cat x2 (ref has 1) -> 1: 3 correct of 4
    # 2-grams: "the cat" x2 (ref has 1) -> 1, "cat the" x1 (ref has 0) -> 0: 1 correct of 3
    # brevity penalty: exp(1 - 6/4) = exp(-0.5)
    scores = bleu(["the cat the cat"], [["the cat sat on the mat"]], max_n=2)
    bp = math.exp(-0.5)
    assert scores["BLEU-1"] == pytest.approx(3 / 4 * bp, rel=1e-6)
    assert scores["BLEU-2"] == pytest.approx(math.sqrt(3 / 4 * 1 / 3) * bp, rel=1e-6)


def test_multiple_references_clip_by_the_max_count_in_any_one_reference():
    # "the" x3; one reference has it once, the other twice: max is 2 (a sum over references would give 3)
    # prediction length 3 -> closest reference length 3, no brevity penalty
    scores = bleu(["the the the"], [["the cat", "the the dog"]], max_n=1)
    assert scores["BLEU-1"] == pytest.approx(2 / 3, rel=1e-6)


def test_brevity_uses_the_closest_reference_length_shorter_on_ties():
    # 4 words; references of 3 and 5 words are equally close: 3 is used, so no penalty
    scores = bleu(["a b c d"], [["a b c d e", "a b c"]], max_n=1)
    assert scores["BLEU-1"] == pytest.approx(1.0, abs=1e-6)


def test_tokenize_ignores_case_and_punctuation():
    assert tokenize("A Red, circle -- moves LEFT!") == ["a", "red", "circle", "moves", "left"]
    assert tokenize("It's 2 squares.") == ["it's", "2", "squares"]
    assert bleu(["A Red, circle moves LEFT!"], [["a red circle moves left"]])["BLEU-4"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("predictions, references", [
    (["a red circle"], [["a red circle"], ["a blue square"]]),  # length mismatch
    ([], []),  # nothing to score
    (["a red circle"], ["a red circle"]),  # reference given as a bare string
    (["a red circle"], [[]]),  # no references for a prediction
])
def test_bad_inputs_raise(predictions, references):
    with pytest.raises(ValueError):
        bleu(predictions, references)


def test_scores_stay_in_unit_interval_for_short_predictions():
    scores = bleu(["a cat"], [["a cat"]])  # 2 words: no 3- or 4-grams at all
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in scores.values()), scores
    assert scores["BLEU-2"] == pytest.approx(1.0) and scores["BLEU-3"] == 0.0 and scores["BLEU-4"] == 0.0
