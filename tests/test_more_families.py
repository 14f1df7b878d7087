"""LLaVA-OneVision, SmolVLM2 and InternVL3 on tiny checkpoints: labels on a real byte-level BPE vocabulary (Qwen2's
and Qwen2.5's own; see `family_tokenizer`), QLoRA lowering the loss, batched left-padded captions equal to
one-at-a-time, and the budget count against the processor's real expansion (`test_families.py` covers the latter
and 4-bit loading for every family)."""

import json

import pytest
import torch

from helpers.models_fixtures import MORE_FAMILIES, family_checkpoints, random_frames  # noqa: F401  (fixture)
from helpers.real_tokenizers import qwen_backend
from vidlm.collate import IGNORE_INDEX, TrainCollator, encode, show_supervised
from vidlm.families import get_family
from vidlm.prompts import format_prompt

# The module holding each family's language model, the only place LoRA goes.
LANGUAGE_MODEL = {"llava-onevision": "language_model", "smolvlm2": "text_model", "internvl3": "language_model"}
ANSWERS = ["The red circle moves left.", "1999 was the year.", "红色的圆向左移动。", "🙂 a happy clip",
           "First line.\nSecond line."]


@pytest.fixture(scope="module")
def family_tokenizer():
    """{family: a real byte-level BPE tokenizer with the family's special tokens added}.

    LLaVA-OneVision: Qwen2's (three special tokens, then llava-hf's `<image>` 151646 and `<video>` 151647);
    InternVL3: Qwen2.5's (22 special tokens, then `<img>` 151665, `</img>` 151666, `<IMG_CONTEXT>` 151667, as in
    InternVL3-hf); SmolVLM2 has its own SmolLM2 byte-level BPE, which no registry package ships, so Qwen2.5's stands
    in as the closest real byte-level BPE vocabulary."""
    from transformers import AddedToken, PreTrainedTokenizerFast

    tokenizers = {}
    for family in MORE_FAMILIES:
        fam = get_family(family)
        backend = qwen_backend("qwen2" if family == "llava-onevision" else "qwen2.5")
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in fam.tiny_special_tokens
                                    if backend.token_to_id(t) is None])
        roles = fam.token_roles
        # as vidlm.demo.tiny names them: every role but bos/eos/pad is a named token the processor reads
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, eos_token=roles["eos"], pad_token=roles["pad"],
            extra_special_tokens={f"{r}_token": t for r, t in roles.items() if r not in ("bos", "eos", "pad")})
        tokenizers[family] = tokenizer
    return tokenizers


def test_the_real_tokenizers_put_the_visual_tokens_at_the_hub_checkpoints_ids(family_tokenizer):
    """The ids the hub configs point at (transformers' config defaults are the -hf checkpoints' values)."""
    import transformers

    onevision, internvl = family_tokenizer["llava-onevision"], family_tokenizer["internvl3"]
    config = transformers.LlavaOnevisionConfig()
    assert onevision.convert_tokens_to_ids(["<image>", "<video>"]) == [config.image_token_id, config.video_token_id]
    assert onevision.convert_tokens_to_ids(["<image>", "<video>"]) == [151646, 151647]
    assert internvl.convert_tokens_to_ids(["<img>", "</img>", "<IMG_CONTEXT>"]) == [151665, 151666, 151667]
    assert internvl.convert_tokens_to_ids("<IMG_CONTEXT>") == transformers.InternVLConfig().image_token_id
    assert internvl.convert_tokens_to_ids("<|im_end|>") == onevision.convert_tokens_to_ids("<|im_end|>") == 151645


# What the template writes between the generation prompt and the answer: the model's first supervised token.
SEPARATOR = {"llava-onevision": "", "smolvlm2": " ", "internvl3": ""}


def expected_labels(tokenizer, ids: list[int], generation_prompts: list[str], eos: str) -> list[int]:
    """The rule, from the unexpanded ids alone: after each generation prompt's tokens, through the end of turn."""
    labels = [IGNORE_INDEX] * len(ids)
    for prompt in generation_prompts:
        start = len(tokenizer(prompt)["input_ids"])
        end = ids.index(tokenizer.convert_tokens_to_ids(eos), start) + 1
        labels[start:end] = ids[start:end]
    return labels


@pytest.mark.parametrize("family", MORE_FAMILIES)
@pytest.mark.parametrize("answer", ANSWERS)
def test_labels_are_the_answer_and_end_of_turn_on_a_real_tokenizer(family_tokenizer, family, answer):
    fam = get_family(family)
    processor = fam.tiny_processor(family_tokenizer[family])
    tok = processor.tokenizer
    eos, sep = fam.token_roles["eos"], SEPARATOR[family]
    video_id = tok.convert_tokens_to_ids(fam.token_roles["video"])
    history = [("Describe the video.", "A blue square moves up.")]
    for turns in ([], history):
        prompt = format_prompt(fam, "What happens?", answer, history=turns, processor=processor)
        features = encode(processor, prompt, random_frames(0), fam)
        supervised = [t for t in features["labels"].tolist() if t != IGNORE_INDEX]
        assert tok.decode(supervised) == "".join(f"{sep}{a}{eos}" for _, a in [*turns, ("", answer)])
        # the same labels as the rule gives from the tokenizer and the generation prompts alone
        asks = [format_prompt(fam, q, history=turns[:i], processor=processor).text
                for i, (q, _) in enumerate([*turns, ("What happens?", None)])]
        plain = tok(prompt.text)["input_ids"]
        at = plain.index(video_id)
        visual = len(features["input_ids"]) - len(plain) + 1
        rule = expected_labels(tok, plain, asks, eos)
        assert features["labels"].tolist() == rule[:at] + [IGNORE_INDEX] * visual + rule[at + 1:]
    batch = TrainCollator(tok.pad_token_id, fam.packed_inputs)([features])
    assert show_supervised(batch, tok) == [f"{sep}A blue square moves up.{eos}{sep}{answer}{eos}"]


@pytest.fixture(scope="module", params=MORE_FAMILIES)
def trained_family(request, family_checkpoints, synthetic_data, tmp_path_factory):
    from helpers.family_checks import train_a_few_steps

    return train_a_few_steps(family_checkpoints[request.param], synthetic_data["train"],
                             tmp_path_factory.mktemp("run"))


def test_a_few_qlora_steps_lower_the_loss_on_the_language_model_only(trained_family):
    result, config = trained_family
    record = json.loads(result.record_path.read_text())
    fam = get_family(record["family"])
    logged = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(logged) >= 4 and logged[-1] < 0.7 * logged[0], logged
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad]
    projector = fam.projector.split(".")[-1]
    assert all("lora_" in n and LANGUAGE_MODEL[fam.name] in n or projector in n for n in trainable), trainable
    assert any(projector in n for n in trainable) and any("lora_" in n for n in trainable)
    assert not any(v.split(".")[-1] in n for n in trainable for v in fam.vision_modules)
    assert record["sampling"] == {**fam.sampling.record(), "num_frames": 4}


def test_left_padded_batched_captions_equal_one_at_a_time(trained_family, synthetic_data):
    from helpers.family_checks import batched_and_single_captions

    result, config = trained_family
    batched, single = batched_and_single_captions(result.model, config.model, synthetic_data["test"])
    assert batched == single
    assert all(c for c in batched)


def reference_processor(family: str, tokenizer):
    """The processor with the hub checkpoint's video settings (from the real classes' defaults and the hub
    processor_config values), on the real vocabulary: what a clip at the family's defaults costs."""
    import transformers

    if family == "llava-onevision":
        return transformers.LlavaOnevisionProcessor(
            video_processor=transformers.LlavaOnevisionVideoProcessor(),  # 384×384
            image_processor=transformers.LlavaOnevisionImageProcessor(), tokenizer=tokenizer,
            num_image_tokens=(384 // 14) ** 2, vision_feature_select_strategy="full")
    if family == "smolvlm2":  # the 256M checkpoint: 512 px frames, 64 image tokens each
        side = {"longest_edge": 512}
        return transformers.SmolVLMProcessor(
            image_processor=transformers.SmolVLMImageProcessor(size=side, max_image_size=side),
            video_processor=transformers.SmolVLMVideoProcessor(size=side, max_image_size=side),
            tokenizer=tokenizer, image_seq_len=64)
    if family == "internvl3":  # 448 px frames, 256 `<IMG_CONTEXT>` each
        size = {"height": 448, "width": 448}
        return transformers.InternVLProcessor(
            image_processor=transformers.GotOcr2ImageProcessor(size=size),
            video_processor=transformers.InternVLVideoProcessor(size=size), tokenizer=tokenizer,
            image_seq_length=256)
    raise KeyError(family)


def smolvlm2_clip_text(frames: int) -> str:
    """What SmolVLM2's processor writes for a clip of `frames` frames sampled at 1 fps from time 0."""
    frame = "<fake_token_around_image><global-img>" + "<image>" * 64 + "<fake_token_around_image>"
    return (f"You are provided the following series of sixty-four frames from a 0:01:04 [H:MM:SS] video.\n"
            + "".join(f"\nFrame from {s // 60:02d}:{s % 60:02d}:{frame}" for s in range(frames)) + "\n\n")


# Visual tokens of one clip at the family's default sampling, as the README's table gives them (a 16:9 clip long
# enough to reach the frame cap): LLaVA-OneVision 32 frames × 196 + 1 newline.
DEFAULT_CLIP = {"llava-onevision": ((32, 360, 640), lambda tok: 32 * 196 + 1),
                # SmolVLM2-256M: 64 frames (a clip of ≥ 64 s at 1 fps) × (64 `<image>` + 3) + the text it writes
                "smolvlm2": ((64, 360, 640), lambda tok: len(tok(smolvlm2_clip_text(64))["input_ids"])),
                # InternVL3: 8 frames × (`FrameN: ` + `<img>` + 256 `<IMG_CONTEXT>` + `</img>`), newline-separated
                "internvl3": ((8, 360, 640), lambda tok: len(tok("\n".join(
                    f"Frame{i + 1}: <img>{'<IMG_CONTEXT>' * 256}</img>" for i in range(8)))["input_ids"]))}


@pytest.mark.parametrize("family", MORE_FAMILIES)
def test_reference_checkpoints_and_visual_tokens_at_the_defaults(family_tokenizer, family):
    from vidlm.collate import visual_tokens

    fam = get_family(family)
    assert fam.hub_ids == {
        "llava-onevision": ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        "smolvlm2": ("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "HuggingFaceTB/SmolVLM2-2.2B-Instruct"),
        "internvl3": ("OpenGVLab/InternVL3-1B-hf", "OpenGVLab/InternVL3-8B-hf"),
    }[family]
    (frames, height, width), tokens = DEFAULT_CLIP[family]
    assert fam.sampling.frames() == frames
    tokenizer = family_tokenizer[family]
    count = visual_tokens(reference_processor(family, tokenizer), fam, frames, height, width)
    assert count == tokens(tokenizer), count


def test_smolvlm2_batches_clips_of_different_frame_counts(family_checkpoints):
    """At 1 fps, clips of different lengths have different frame counts: a batch pads the shorter clips with
    all-zero frames, which SmolVLM drops, so the batch is exactly the samples one at a time."""
    from vidlm.collate import generation_batch
    from vidlm.models import load_model, load_processor

    fam = get_family("smolvlm2")
    path = family_checkpoints["smolvlm2"]
    processor, model = load_processor(path), load_model(path, quantization="none")
    model.eval()
    pad = processor.tokenizer.pad_token_id
    prompt = format_prompt(fam, "Describe the video.", "a red circle moves left", processor=processor)
    clips = [random_frames(0, num_frames=2), random_frames(1, num_frames=5), random_frames(2, num_frames=3)]
    features = [encode(processor, prompt, clip, fam) for clip in clips]
    batch = TrainCollator(pad, fam.packed_inputs)(features)
    assert batch["pixel_values"].shape == (3, 5, 3, 64, 64)
    assert batch["pixel_values"][0, :2].equal(features[0]["pixel_values"])
    assert not batch["pixel_values"][0, 2:].any() and not batch["pixel_attention_mask"][0, 2:].any()
    with torch.no_grad():
        together = model(**batch).loss
        alone = [model(**TrainCollator(pad, fam.packed_inputs)([f])).loss for f in features]
    counts = [int((f["labels"] != IGNORE_INDEX).sum()) for f in features]
    mean = sum(loss * n for loss, n in zip(alone, counts)) / sum(counts)
    assert torch.allclose(together, mean, atol=1e-5), (together, mean)
    # generation: a left-padded batch of the three clips writes what each writes alone
    ask = format_prompt(fam, "Describe the video.", processor=processor).text

    def generate(videos):
        inputs = generation_batch(processor, [ask] * len(videos), videos, fam)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    assert generate(clips) == [generate([clip])[0] for clip in clips]


def test_llava_onevision_refuses_a_batch_of_different_frame_counts_by_name(family_checkpoints, tmp_path):
    """LLaVA-OneVision takes one [frames, …] tensor per sample: a batch of different frame counts is refused with
    what to do, and its uniform sampling gives every clip, short or long, the same count so batches work."""
    from vidlm.data.samples import Sample, VideoTextDataset
    from vidlm.models import load_processor
    from vidlm.demo.synthetic import write_video

    fam = get_family("llava-onevision")
    processor = load_processor(family_checkpoints["llava-onevision"])
    pad = processor.tokenizer.pad_token_id
    prompt = format_prompt(fam, "Describe the video.", "a red circle moves left", processor=processor)
    features = [encode(processor, prompt, random_frames(i, num_frames=n), fam) for i, n in enumerate((4, 4, 2))]
    with pytest.raises(ValueError, match=r"sample 2 has 2 frames.*sample 0 has 4.*batch_size 1.*fixed frame count"):
        TrainCollator(pad, fam.packed_inputs)(features)
    samples = []
    for i, length in enumerate((6, 40, 13)):  # clips of 0.75 s to 5 s at 8 fps
        write_video(tmp_path / f"clip{i}.mp4", random_frames(i, num_frames=length))
        samples.append(Sample(id=str(i), video=str(tmp_path / f"clip{i}.mp4"), answer="a red circle moves left"))
    dataset = VideoTextDataset(samples, processor, fam, num_frames=4)
    batch = TrainCollator(pad, fam.packed_inputs)([dataset[i] for i in range(3)])
    assert batch["pixel_values_videos"].shape == (3, 4, 3, 64, 64)
