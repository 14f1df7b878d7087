"""Model families: everything vidlm needs to know about one architecture, in one file per family.

Each `vidlm/families/<family>.py` defines a module-level `FAMILY = Family(...)` with the same fields; the registry
below checks that at import. Adding a family means writing one such file and listing it in `_MODULES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import Callable

_MODULES = {"llava-next-video": "llava_next_video", "video-llava": "video_llava"}


@dataclass(frozen=True)
class Family:
    """What differs between video-language architectures, and nothing else."""

    name: str
    hub_id: str  # the reference checkpoint on the Hugging Face hub
    model_class: str  # transformers class names, resolved lazily so `import vidlm` stays cheap
    processor_class: str
    num_frames: int  # frames per clip the reference checkpoint was trained with
    video_placeholder: str  # how the documented prompt puts the video: `USER: {video_placeholder}{text} ASSISTANT:`
    lora_target_modules: str  # regex over module names: the language model's linear layers
    projector: str  # module path of the multimodal projector
    vision_modules: tuple[str, ...]  # module paths of the vision tower(s), frozen and never quantized
    tokens_per_frame: Callable  # (model or processor config) -> visual tokens one frame costs in the sequence
    tiny_config: Callable  # (vocab ids) -> a small config of this architecture, for tests and the demo
    tiny_processor: Callable  # (tokenizer, chat_template) -> a processor matching tiny_config


def get_family(name: str) -> Family:
    """The family called `name`, e.g. `get_family("video-llava")`."""
    if name not in _MODULES:
        raise ValueError(f"Unknown family {name!r}; known: {sorted(_MODULES)}")
    family = importlib.import_module(f"vidlm.families.{_MODULES[name]}").FAMILY
    missing = [f.name for f in fields(Family) if getattr(family, f.name, None) in (None, "")]
    if missing:
        raise TypeError(f"Family {name!r} does not define {missing}")
    return family


def family_names() -> list[str]:
    return sorted(_MODULES)


def family_of(config) -> Family:
    """The family whose model class builds a checkpoint with this config (from its `model_type`)."""
    by_type = {"llava_next_video": "llava-next-video", "video_llava": "video-llava"}
    model_type = getattr(config, "model_type", None)
    if model_type not in by_type:
        raise ValueError(f"Checkpoint of model_type {model_type!r} is not a supported family; known: {sorted(by_type)}")
    return get_family(by_type[model_type])


def tiny_backbones(ids: dict):
    """The tiny language model (Llama, hidden 128, 2 layers) and vision tower (CLIP, 64 px, patch 8) every family's
    tiny checkpoint is built from; `ids` holds the tokenizer's vocab size and special token ids."""
    from transformers import CLIPVisionConfig, LlamaConfig

    text = LlamaConfig(
        vocab_size=ids["vocab_size"], hidden_size=128, intermediate_size=512, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"],
    )
    vision = CLIPVisionConfig(
        hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        image_size=64, patch_size=8, projection_dim=64,
    )
    return text, vision
