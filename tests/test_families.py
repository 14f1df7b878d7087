import json
from pathlib import Path

import pytest
import torch
import transformers

from models_fixtures import FAMILIES, random_frames
from vidlm.families import family_of, get_family
from vidlm.models import load_model, load_processor, quantization_config


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown family 'llava'; known: \['llava-next-video', 'video-llava'\]"):
        get_family("llava")


def test_families_name_the_real_hub_checkpoints():
    assert get_family("llava-next-video").hub_id == "llava-hf/LLaVA-NeXT-Video-7B-hf"
    assert get_family("video-llava").hub_id == "LanguageBind/Video-LLaVA-7B-hf"
    assert get_family("video-llava").num_frames == 8
    assert get_family("llava-next-video").num_frames == 32


def test_tokens_per_frame_of_the_7b_configs():
    """144 tokens per frame for LLaVA-NeXT-Video (336 px, pooled) and 257 for Video-LLaVA (224 px + CLS)."""
    assert get_family("llava-next-video").tokens_per_frame(transformers.LlavaNextVideoConfig()) == 144
    assert get_family("video-llava").tokens_per_frame(transformers.VideoLlavaConfig()) == 257


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


@pytest.mark.parametrize("family", FAMILIES)
def test_processor_expands_video_to_frames_times_tokens_per_frame(tiny_checkpoints, family):
    path = tiny_checkpoints[family]
    processor, config = load_processor(path), transformers.AutoConfig.from_pretrained(path)
    fam = family_of(config)
    inputs = processor(text=["USER: <video>hi ASSISTANT:"], videos=[random_frames(0, num_frames=4)])
    video_id = processor.tokenizer.convert_tokens_to_ids("<video>")
    assert int((inputs["input_ids"] == video_id).sum()) == 4 * fam.tokens_per_frame(config)


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_checkpoint_loads_in_4bit_on_cpu(tiny_checkpoints, family):
    from bitsandbytes.nn import Linear4bit

    model = load_model(tiny_checkpoints[family], quantization="4bit")
    fam = get_family(family)
    q_proj = model.model.language_model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, Linear4bit) and q_proj.weight.quant_type == "nf4"
    # vision tower(s), projector and lm_head stay in full precision
    assert model.model.multi_modal_projector.linear_1.weight.dtype == torch.float32
    assert model.lm_head.weight.dtype == torch.float32
    for name in fam.vision_modules:
        tower = model.get_submodule(name)
        assert not any(isinstance(m, Linear4bit) for m in tower.modules())
    processor = load_processor(tiny_checkpoints[family])
    inputs = processor(text=["USER: <video>hi ASSISTANT:"], videos=[random_frames(1)], return_tensors="pt")
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
