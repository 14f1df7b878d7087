"""Load a model and its processor: hub id or local folder, 4-bit / 8-bit / full precision, dtype from the hardware.

`load_model` is the one path for every checkpoint — `llava-hf/LLaVA-NeXT-Video-7B-hf`, a fine-tuned folder, or a
tiny checkpoint made by `vidlm.demo.tiny` — so what the tests exercise is what users run.
"""

from __future__ import annotations

import os
from typing import Literal

from vidlm.families import Family, family_for, model_id as resolve_model_id

Quantization = Literal["4bit", "8bit", "none"]
# transformers' attention implementations vidlm offers; None leaves transformers' default (sdpa where supported)
Attention = Literal["sdpa", "eager", "flash_attention_2"]


def compute_dtype():
    """bfloat16 on GPUs that support it natively, float16 on older GPUs (T4, V100), float32 on CPU
    (`vidlm.precision`)."""
    from vidlm.precision import this_machine

    return this_machine().torch_dtype


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


def attention_problem(attn_implementation: str | None) -> str | None:
    """Why `attn_implementation` cannot run here (checked before any weights load), or None."""
    if attn_implementation not in (None, "sdpa", "eager", "flash_attention_2"):
        return (f"Unknown attention implementation {attn_implementation!r}; choose 'sdpa', 'eager' or "
                "'flash_attention_2'")
    if attn_implementation == "flash_attention_2":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is None:
            return ("attn_implementation 'flash_attention_2' needs the flash-attn package, which is not installed "
                    "(pip install flash-attn --no-build-isolation, on a CUDA machine); or use 'sdpa'")
    return None


def placement(gpus: list[int], max_memory_gib: float | None = None) -> dict:
    """`from_pretrained`'s device_map (and max_memory) for a model on `gpus` (the CPU when empty).

    One GPU and no limit: everything on it. Otherwise accelerate splits the layers over `gpus` (and only those:
    devices left out of max_memory get nothing), each given at most `max_memory_gib` GiB, or its whole memory.
    """
    if not gpus:
        return {"device_map": {"": "cpu"}}
    if len(gpus) == 1 and max_memory_gib is None:
        return {"device_map": {"": gpus[0]}}
    if max_memory_gib is None:
        import torch

        limits = {g: torch.cuda.get_device_properties(g).total_memory / 2**30 for g in gpus}
    else:
        limits = dict.fromkeys(gpus, max_memory_gib)
    return {"device_map": "auto", "max_memory": {g: f"{gib:g}GiB" for g, gib in limits.items()}}


def load_options(gpus_per_process: int = 1, max_memory_gib: float | None = None,
                 attn_implementation: str | None = None, proc=None) -> dict:
    """The `load_model` keywords that place this process's copy of the model: its GPUs (see
    `vidlm.runtime.launch.process_gpus`), their memory limit and the attention implementation (refused here if it cannot
    run).
    """
    import torch

    from vidlm.runtime.launch import process_gpus, process_info

    problem = attention_problem(attn_implementation)
    if problem:
        raise ValueError(problem)
    proc = proc or process_info()
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = process_gpus(proc, gpus_per_process, visible)
    options = placement(gpus, max_memory_gib)
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    return options


def load_model(model_id: str, quantization: Quantization = "4bit", dtype=None, device_map=None,
               trust_remote_code: bool = False, family: Family | None = None, **kwargs):
    """Load a supported video-language model with `from_pretrained`.

    model_id: hub id (e.g. `llava-hf/LLaVA-NeXT-Video-7B-hf`), local folder or family name (its default checkpoint).
    family: the checkpoint's family when the caller has resolved it already; else read from its config.
    quantization: "4bit" (NF4 + double quantization, for QLoRA), "8bit", or "none".
    dtype: compute/weight dtype; by default bfloat16/float16 on GPU and float32 on CPU.
    device_map: where to put the weights; by default the process's GPU (LOCAL_RANK, else 0) if any, else the CPU.
    kwargs: passed to `from_pretrained`, e.g. `max_memory` and `attn_implementation` (see `load_options`).
    """
    import torch
    import transformers

    from vidlm.runtime.progress import use_for_transformers

    problem = attention_problem(kwargs.get("attn_implementation"))
    if problem:  # before anything loads
        raise ValueError(problem)
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


def sample_as_trained(processor, family: Family):
    """Make the processor's video settings those the family's checkpoints were trained with, where the hub files
    leave them looser. Qwen2.5-VL's hub repos have no video_preprocessor_config.json, so their video processor takes
    the image settings (up to 16,384 cells of 28² px a frame: 19,136 tokens for 32 frames of 720p); qwen-vl-utils,
    which the checkpoints trained with, caps each frame at 768 cells and the clip at a total pixel budget
    (`cap_pixels_per_frame`): 11,520 tokens for the same clip."""
    video = getattr(processor, "video_processor", None)
    if video is None:
        return processor
    if getattr(video, "cap_pixels_per_frame", False) is None:
        video.cap_pixels_per_frame = True
    budget = family.sampling.max_pixels
    size = getattr(video, "size", None)
    if budget and family.sampling.pixels_over == "frame" and size is not None and size.get("longest_edge"):
        if size["longest_edge"] > budget:
            video.size = {**{k: v for k, v in dict(size).items() if v is not None}, "longest_edge": budget}
    return processor


def load_processor(model_id: str, trust_remote_code: bool = False, family: Family | None = None):
    """The family's processor for `model_id` (as for `load_model`), with a pad token and left padding."""
    import transformers

    family = family or family_for(model_id)
    processor = getattr(transformers, family.processor_class).from_pretrained(
        resolve_model_id(model_id), trust_remote_code=trust_remote_code
    )
    sample_as_trained(processor, family)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return processor
