"""Load a model and its processor: hub id or local folder, 4-bit / 8-bit / full precision, dtype from the hardware.

`load_model` is the one path for every checkpoint — `llava-hf/LLaVA-NeXT-Video-7B-hf`, a fine-tuned folder, or a
tiny checkpoint made by `vidlm.tiny` — so what the tests exercise is what users run.
"""

from __future__ import annotations

import os
from typing import Literal

from vidlm.families import Family, family_for, model_id as resolve_model_id

Quantization = Literal["4bit", "8bit", "none"]


def compute_dtype():
    """bfloat16 on GPUs that support it, float16 on older GPUs, float32 on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def quantization_config(family: Family, quantization: Quantization, dtype=None):
    """BitsAndBytesConfig for 4-bit NF4 with double quantization (QLoRA) or 8-bit; None for full precision.

    The vision tower(s), the projector and lm_head stay unquantized: they are small, and the projector may be
    trained in full (a custom skip list replaces transformers' default, so lm_head is named again).
    """
    if quantization in (None, "none"):
        return None
    from transformers import BitsAndBytesConfig

    skip = [*family.vision_modules, family.projector, "lm_head"]
    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype or compute_dtype(), llm_int8_skip_modules=skip,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    raise ValueError(f"Unknown quantization {quantization!r}; choose '4bit', '8bit' or 'none'")


def load_config(model_id: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_id)


def load_model(model_id: str, quantization: Quantization = "4bit", dtype=None, device_map=None,
               trust_remote_code: bool = False, family: Family | None = None, **kwargs):
    """Load a supported video-language model with `from_pretrained`.

    model_id: hub id (e.g. `llava-hf/LLaVA-NeXT-Video-7B-hf`), local folder or family name (its default checkpoint).
    family: the checkpoint's family when the caller has resolved it already; else read from its config.
    quantization: "4bit" (NF4 + double quantization, for QLoRA), "8bit", or "none".
    dtype: compute/weight dtype; by default bfloat16/float16 on GPU and float32 on CPU.
    device_map: where to put the weights; by default the process's GPU (LOCAL_RANK, else 0) if any, else the CPU.
    """
    import torch
    import transformers

    from vidlm.progress import use_for_transformers

    use_for_transformers()  # its "Loading weights" bar: text when no one watches a widget
    family = family or family_for(model_id)
    model_id = resolve_model_id(model_id)
    dtype = dtype or compute_dtype()
    if device_map is None:  # under torchrun / accelerate launch each process takes the GPU of its local rank
        device_map = {"": int(os.environ.get("LOCAL_RANK", 0))} if torch.cuda.is_available() else {"": "cpu"}
    model_class = getattr(transformers, family.model_class)
    model = model_class.from_pretrained(
        model_id, dtype=dtype, device_map=device_map, trust_remote_code=trust_remote_code,
        quantization_config=quantization_config(family, quantization, dtype), **kwargs,
    )
    return model


def load_processor(model_id: str, trust_remote_code: bool = False, family: Family | None = None):
    """The family's processor for `model_id` (as for `load_model`), with a pad token and left padding."""
    import transformers

    family = family or family_for(model_id)
    processor = getattr(transformers, family.processor_class).from_pretrained(
        resolve_model_id(model_id), trust_remote_code=trust_remote_code
    )
    video = getattr(processor, "video_processor", None)
    if video is not None and getattr(video, "cap_pixels_per_frame", False) is None:
        video.cap_pixels_per_frame = True  # Qwen: the per-frame cap of qwen-vl-utils, which the checkpoints trained with
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return processor
