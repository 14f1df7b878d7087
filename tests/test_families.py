import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from helpers.models_fixtures import ALL_FAMILIES, FAMILIES, family_checkpoints, random_frames  # noqa: F401  (fixture)
from vidlm.families import family_names, family_of, get_family
from vidlm.models import load_model, load_processor, quantization_config


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match=re.escape(f"Unknown family 'llava'; known: {sorted(ALL_FAMILIES)}")):
        get_family("llava")
    assert set(ALL_FAMILIES) == set(family_names())  # every family file is tested


def test_families_name_the_real_hub_checkpoints():
    assert get_family("llava-next-video").hub_id == "llava-hf/LLaVA-NeXT-Video-7B-hf"
    assert get_family("video-llava").hub_id == "LanguageBind/Video-LLaVA-7B-hf"
    assert get_family("video-llava").num_frames == 8
    assert get_family("llava-next-video").num_frames == 32


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_checkpoint_is_a_real_safetensors_checkpoint(tiny_checkpoints, family):
    folder = Path(tiny_checkpoints[family])
    assert (folder / "model.safetensors").stat().st_size > 100_000
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == [get_family(family).model_class]
    processor = load_processor(str(folder))
    assert type(processor).__name__ == get_family(family).processor_class
    assert processor.tokenizer.decode(processor.tokenizer("a red circle moves left")["input_ids"],
                                      skip_special_tokens=True) == "a red circle moves left"


# (frames, height, width) -> visual tokens, by each architecture's arithmetic: LLaVA-NeXT-Video pools 8×8 patches
# of its 64 px frames to 16; Video-LLaVA keeps 8×8 + CLS = 65 per frame; Qwen2.5-VL resizes to multiples of 28 px
# (64×64 → 56×56, 100×60 → 112×56, 6 frames as 3 temporal pairs, 5 padded to 6) and merges 2×2 patches of 14 px.
EXPECTED_VISUAL = {
    "llava-next-video": {(4, 64, 64): 64, (6, 100, 60): 96},
    "video-llava": {(4, 64, 64): 260, (6, 100, 60): 390},
    "qwen2.5-vl": {(4, 64, 64): 2 * 2 * 2, (5, 100, 60): 3 * 4 * 2, (6, 64, 64): 3 * 2 * 2, (4, 100, 60): 2 * 4 * 2},
    # Qwen3-VL: 32 px cells within a pixel budget over the whole clip (128² px × frames ≤ 128²·… see TINY_PIXELS):
    # 4 frames of 64² fit (2×2 cells); 6 frames of 64² shrink to 32² (1 cell); 100×60 at 4 or 5 frames shrinks to
    # 64×32 (2 cells). Per temporal pair `<t seconds>` (word-level tiny tokenizer: `<`, digit, `.`, digit,
    # `seconds`, `>` = 6 tokens) + vision start/end = 8 more tokens.
    "qwen3-vl": {(4, 64, 64): 2 * (4 + 8), (6, 64, 64): 3 * (1 + 8), (4, 100, 60): 2 * (2 + 8),
                 (5, 100, 60): 3 * (2 + 8)},
    # LLaVA-OneVision resizes every frame to 64² (8×8 patches of 8 px), pools to 4×4 = 16, + 1 newline per clip.
    "llava-onevision": {(4, 64, 64): 4 * 16 + 1, (6, 100, 60): 6 * 16 + 1, (8, 64, 64): 8 * 16 + 1,
                        (4, 100, 60): 4 * 16 + 1},
    # SmolVLM2 squares every frame to 64² (4×4 patches of 16 px, pixel-shuffled by 2 = 4 `<image>`) between
    # `<fake_token_around_image><global-img>` and `<fake_token_around_image>`, after `Frame from 00:0s:` (6 word-level
    # tokens), all after the 25-token introduction (`You are provided the following series of four frames from a
    # 0:00:04 [H:MM:SS] video.`).
    "smolvlm2": {(4, 64, 64): 4 * (4 + 3 + 6) + 25, (6, 100, 60): 6 * (4 + 3 + 6) + 25,
                 (8, 64, 64): 8 * (4 + 3 + 6) + 25, (6, 64, 64): 6 * (4 + 3 + 6) + 25},
    # InternVL3 resizes every frame to 64² (8×8 patches of 8 px, pixel-shuffled to 16 `<IMG_CONTEXT>`) inside
    # `<img>…</img>`, after `FrameN:` (2 word-level tokens).
    "internvl3": {(4, 64, 64): 4 * (16 + 2 + 2), (6, 100, 60): 6 * (16 + 2 + 2), (8, 64, 64): 8 * (16 + 2 + 2),
                  (4, 100, 60): 4 * (16 + 2 + 2)},
}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_budget_count_equals_the_processors_expanded_length(family_checkpoints, family):
    """Two resolutions × two frame counts: the budget's length of a sample is the length `encode` gives it."""
    from vidlm.collate import encode, token_budget
    from vidlm.prompts import format_prompt

    processor, fam = load_processor(family_checkpoints[family]), get_family(family)
    prompt = format_prompt(fam, "Describe the video.", "a red circle moves left", processor=processor)
    for (frames, height, width), visual in EXPECTED_VISUAL[family].items():
        budget = token_budget(processor, fam, frames, [prompt], 10_000, video_sizes=[(height, width)])
        clip = np.random.default_rng(frames).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
        assert budget.visual_tokens == [visual], (frames, height, width)
        assert budget.totals == [len(encode(processor, prompt, clip, fam)["input_ids"])]


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_tiny_checkpoint_loads_in_4bit_on_cpu(family_checkpoints, family):
    from bitsandbytes.nn import Linear4bit

    from vidlm.collate import generation_batch
    from vidlm.prompts import format_prompt

    model = load_model(family_checkpoints[family], quantization="4bit")
    fam = get_family(family)
    language_model = model.model.text_model if family == "smolvlm2" else model.model.language_model
    q_proj = language_model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, Linear4bit) and q_proj.weight.quant_type == "nf4"
    # vision tower(s), projector and lm_head stay in full precision
    projector = model.get_submodule(fam.projector)
    assert not any(isinstance(m, Linear4bit) for m in projector.modules())
    assert all(p.dtype == torch.float32 for p in projector.parameters())
    assert model.lm_head.weight.dtype == torch.float32
    for name in fam.vision_modules:
        tower = model.get_submodule(name)
        assert not any(isinstance(m, Linear4bit) for m in tower.modules())
    processor = load_processor(family_checkpoints[family])
    text = format_prompt(fam, "hi", processor=processor).text
    inputs = generation_batch(processor, [text], [random_frames(1)], fam)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(processor.tokenizer))
    assert torch.isfinite(logits).all()


def test_quantization_config_choices():
    fam = get_family("llava-next-video")
    four = quantization_config(fam, "4bit", torch.float32)
    assert four.load_in_4bit and four.bnb_4bit_quant_type == "nf4" and four.bnb_4bit_use_double_quant
    assert "model.multi_modal_projector" in four.llm_int8_skip_modules and "lm_head" in four.llm_int8_skip_modules
    assert quantization_config(fam, "8bit").load_in_8bit
    assert quantization_config(fam, "none") is None
    with pytest.raises(ValueError, match="Unknown quantization '3bit'"):
        quantization_config(fam, "3bit")


def test_tiny_checkpoint_loads_in_8bit_and_in_full_precision(tiny_checkpoints):
    from bitsandbytes.nn import Linear8bitLt

    path = tiny_checkpoints["video-llava"]
    processor = load_processor(path)
    inputs = processor(text=["USER: <video>hi ASSISTANT:"], videos=[random_frames(2)], return_tensors="pt")
    logits = {}
    for quantization in ("8bit", "none"):
        model = load_model(path, quantization=quantization)
        q_proj = model.model.language_model.layers[0].self_attn.q_proj
        assert isinstance(q_proj, Linear8bitLt) == (quantization == "8bit")
        with torch.no_grad():
            logits[quantization] = model(**inputs).logits
    # 8-bit weights approximate the full-precision ones: same predictions almost everywhere
    agree = (logits["8bit"].argmax(-1) == logits["none"].argmax(-1)).float().mean()
    assert agree > 0.9, agree
