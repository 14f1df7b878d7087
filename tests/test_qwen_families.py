"""The Qwen-VL families end to end on tiny checkpoints: labels on Qwen2.5's real tokenizer, packed
video inputs of different frame counts and sizes in one batch, QLoRA lowering the loss, batched captions equal to
one-at-a-time, and `vidlm caption`.
"""

import csv
import json

import numpy as np
import pytest
import torch

from helpers.models_fixtures import family_checkpoints, random_frames  # noqa: F401  (fixture)
from helpers.real_tokenizers import qwen_tokenizer  # noqa: F401  (session fixture)
from vidlm.collate import IGNORE_INDEX, TrainCollator, encode, show_supervised
from vidlm.families import get_family
from vidlm.prompts import format_prompt

QWEN = ["qwen2.5-vl", "qwen3-vl"]
ANSWERS = ["The red circle moves left.", "1999 was the year.", "红色的圆向左移动。", "🙂 a happy clip",
           "First line.\nSecond line."]


@pytest.fixture(scope="module")
def qwen_vl_tokenizer(qwen_tokenizer):  # noqa: F811
    """Qwen2.5's real tokenizer: the VL special tokens are its own, at their real ids (151643 … 151656; Qwen3-VL's
    tokenizer has the same and more after 151664)."""
    from vidlm.families.qwen2_5_vl import SPECIAL_TOKENS

    assert qwen_tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == list(range(151643, 151657))
    assert qwen_tokenizer.convert_tokens_to_ids("<|video_pad|>") == 151656  # as in Qwen2-VL's tokenizer.json
    return qwen_tokenizer


def expected_labels(tokenizer, ids: list[int], generation_prompts: list[str]) -> list[int]:
    """The rule, from the unexpanded ids alone: after each generation prompt's tokens, through `<|im_end|>`."""
    labels = [IGNORE_INDEX] * len(ids)
    for prompt in generation_prompts:
        start = len(tokenizer(prompt)["input_ids"])
        end = ids.index(tokenizer.convert_tokens_to_ids("<|im_end|>"), start) + 1
        labels[start:end] = ids[start:end]
    return labels


@pytest.mark.parametrize("family", QWEN)
@pytest.mark.parametrize("answer", ANSWERS)
def test_labels_are_the_answer_and_im_end_on_the_real_tokenizer(qwen_vl_tokenizer, family, answer):
    fam = get_family(family)
    processor = fam.tiny_processor(qwen_vl_tokenizer)
    tok = processor.tokenizer
    history = [("Describe the video.", "A blue square moves up.")]
    for turns in ([], history):
        prompt = format_prompt(fam, "What happens?", answer, history=turns, processor=processor)
        features = encode(processor, prompt, random_frames(0), fam)
        supervised = [t for t in features["labels"].tolist() if t != IGNORE_INDEX]
        want = "".join(f"{a}<|im_end|>" for _, a in [*turns, ("", answer)])
        assert tok.decode(supervised) == want
        # the same labels as the rule gives from the tokenizer and the generation prompts alone
        asks = [format_prompt(fam, q, history=turns[:i], processor=processor).text
                for i, (q, _) in enumerate([*turns, ("What happens?", None)])]
        plain = tok(prompt.text)["input_ids"]
        at = plain.index(tok.convert_tokens_to_ids("<|video_pad|>"))
        visual = len(features["input_ids"]) - len(plain) + 1
        rule = expected_labels(tok, plain, asks)
        assert features["labels"].tolist() == rule[:at] + [IGNORE_INDEX] * visual + rule[at + 1:]
    batch = TrainCollator(tok.pad_token_id, fam.packed_inputs)([features])
    assert show_supervised(batch, tok) == ["A blue square moves up.<|im_end|>" + answer + "<|im_end|>"]


@pytest.mark.parametrize("family", QWEN)
def test_a_batch_packs_clips_of_different_frame_counts_and_sizes(family_checkpoints, family):
    from vidlm.models import load_model, load_processor

    fam = get_family(family)
    path = family_checkpoints[family]
    processor, model = load_processor(path), load_model(path, quantization="none")
    prompt = format_prompt(fam, "Describe the video.", "a red circle moves left", processor=processor)
    clips = [random_frames(0, num_frames=4), np.random.default_rng(1).integers(0, 256, (6, 100, 60, 3), np.uint8)]
    features = [encode(processor, prompt, clip, fam) for clip in clips]
    batch = TrainCollator(processor.tokenizer.pad_token_id, fam.packed_inputs)(features)
    # (temporal pairs, patch rows, patch columns): Qwen2.5-VL 64² → 56² and 100×60 → 112×56 in 14 px patches;
    # Qwen3-VL 64² and, within its clip budget, 100×60 → 64×32, in 16 px patches
    grids = {"qwen2.5-vl": [[2, 4, 4], [3, 8, 4]], "qwen3-vl": [[2, 4, 4], [3, 4, 2]]}[family]
    assert batch["video_grid_thw"].tolist() == grids
    assert batch["pixel_values_videos"].shape[0] == sum(t * h * w for t, h, w in grids)
    model.eval()
    with torch.no_grad():
        together = model(**batch).loss
        # one at a time, the mean over both rows' supervised tokens is the same (the loss is per token)
        alone = [model(**TrainCollator(processor.tokenizer.pad_token_id, fam.packed_inputs)([f])) for f in features]
    counts = [int((f["labels"] != IGNORE_INDEX).sum()) for f in features]
    mean = sum(o.loss * n for o, n in zip(alone, counts)) / sum(counts)
    assert torch.allclose(together, mean, atol=1e-5), (together, mean)


@pytest.fixture(scope="module", params=QWEN)
def trained_qwen(request, family_checkpoints, synthetic_data, tmp_path_factory):
    from helpers.family_checks import train_a_few_steps

    return train_a_few_steps(family_checkpoints[request.param], synthetic_data["train"],
                             tmp_path_factory.mktemp("qwen-run"))


def test_a_few_qlora_steps_lower_the_loss_and_run_json_records_the_sampling(trained_qwen):
    result, config = trained_qwen
    logged = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(logged) >= 4 and logged[-1] < 0.7 * logged[0], logged
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad]
    assert all("lora_" in n and "language_model" in n or "merger" in n for n in trainable)
    assert any("merger" in n for n in trainable)  # train_projector: Qwen's projector is its patch merger
    record = json.loads(result.record_path.read_text())
    family = get_family(record["family"])
    assert record["config"]["model"] == config.model and family.name in config.model
    assert record["sampling"] == {"num_frames": 4, "fps": 2.0, "temporal_patch": 2, **{
        "qwen2.5-vl": {"max_pixels": 768 * 28 * 28, "pixels_over": "frame", "timestamps": False},
        "qwen3-vl": {"max_pixels": 24576 * 32 * 32, "pixels_over": "clip", "timestamps": True}}[family.name]}


def test_left_padded_batched_captions_equal_one_at_a_time(trained_qwen, synthetic_data):
    from helpers.family_checks import batched_and_single_captions

    result, config = trained_qwen
    batched, single = batched_and_single_captions(result.model, config.model, synthetic_data["test"])
    assert batched == single
    assert all(c for c in batched)


@pytest.mark.parametrize("family", QWEN)
def test_vidlm_caption_with_a_qwen_checkpoint(family_checkpoints, synthetic_data, tmp_path, family):
    from vidlm.cli import main

    rows = list(csv.DictReader(open(synthetic_data["test"], newline="")))[:3]
    source = tmp_path / "videos.csv"
    with open(source, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path"])
        writer.writeheader()
        writer.writerows({"path": str(synthetic_data["test"].parent / r["path"])} for r in rows)
    out = tmp_path / "captions.csv"
    main(["caption", str(source), "--output", str(out), "--model", family_checkpoints[family],
          "--num-frames", "4", "--max-new-tokens", "4", "--no-progress"])
    written = list(csv.DictReader(open(out, newline="")))
    assert [r["path"] for r in written] == [str(synthetic_data["test"].parent / r["path"]) for r in rows]
    assert all(r["status"] == "ok" and r["text"].strip() for r in written), written
