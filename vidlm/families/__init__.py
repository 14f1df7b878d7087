"""Model families: everything vidlm needs to know about one architecture, in one file per family.

Each `vidlm/families/<family>.py` defines a module-level `FAMILY = Family(...)` with the same fields, its
`model_type` among them. The registry finds the files in this folder and derives every map from them (name → family,
config `model_type` → family), checking each at first use. Adding a family means writing one such file.

The family is resolved once per run (`family_of(config)` or `family_for(model_id)`) and passed explicitly to what
needs it; nothing reads it back from the model.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Callable

# Every linear layer of the language model's blocks (attention and MLP). The vision tower and projector live outside
# `language_model` in every supported family, so LoRA never reaches them.
LANGUAGE_MODEL_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class Sampling:
    """How frames are taken from a video for this family, as its reference checkpoint was trained.

    num_frames: frames per clip (uniformly spread); with `fps`, the most frames a clip may have.
    fps: sample this many frames per second (capped at `num_frames`) instead of a fixed count; None: fixed count.
    max_pixels: the pixel budget the processor resizes frames into (dynamic resolution, aspect kept), over each
        frame or over the whole clip (`pixels_over`); None: the processor resizes every frame to one fixed size, so
        the visual token count depends on frames only.
    pixels_over: "frame" (Qwen2.5-VL) or "clip" (Qwen3-VL: frames × height × width ≤ max_pixels).
    temporal_patch: consecutive frames merged into one temporal patch (Qwen: 2 — an odd count is padded).
    timestamps: the processor writes each frame's time into the prompt (Qwen3-VL, SmolVLM2).
    """

    num_frames: int
    fps: float | None = None
    max_pixels: int | None = None
    pixels_over: str = "frame"
    temporal_patch: int = 1
    timestamps: bool = False

    def frames(self, num_frames: int | None = None) -> int:
        """The frame count (or cap) to use: `num_frames` when given, else this family's default."""
        if num_frames is None:
            return self.num_frames
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer or None (the family's default), got "
                             f"{num_frames!r}")
        return num_frames

    def load(self, path, num_frames: int | None = None, window=None):
        """The clip of `path` sampled by this policy (`vidlm.video.VideoClip`); frames at the video's own size."""
        from vidlm.video.decode import load_video

        return load_video(path, num_frames=self.frames(num_frames), fps=self.fps, window=window)

    def record(self, num_frames: int | None = None) -> dict:
        """This policy as run.json records it, with the frame count actually used."""
        return {**asdict(self), "num_frames": self.frames(num_frames)}


@dataclass(frozen=True)
class Family:
    """What differs between video-language architectures, and nothing else."""

    name: str
    model_type: str  # the `model_type` of the checkpoints' config.json: how a checkpoint finds its family
    hub_ids: tuple[str, ...]  # reference checkpoints on the Hugging Face hub, the default (smallest) first
    model_class: str  # transformers class names, resolved lazily so `import vidlm` stays cheap
    processor_class: str
    sampling: Sampling
    # How the documented prompt puts the video without a chat template: `USER: {video_placeholder}{text} ASSISTANT:`;
    # None where the family's only prompt form is its chat template (Qwen's `<|im_start|>` turns).
    video_placeholder: str | None
    lora_target_modules: str  # regex over module names: the language model's linear layers
    projector: str  # module path of the multimodal projector
    vision_modules: tuple[str, ...]  # module paths of the vision tower(s), frozen and never quantized
    # Processor outputs holding every video of a batch in one tensor (Qwen's patches + `video_grid_thw`): a batch
    # concatenates them instead of stacking one row per sample.
    packed_inputs: tuple[str, ...]
    tiny_config: Callable  # (vocab ids) -> a small config of this architecture, for tests and the demo
    tiny_processor: Callable  # (tokenizer, chat_template) -> a processor matching tiny_config
    # The special tokens a tiny checkpoint's tokenizer adds, and which of them play which role (bos, eos, pad, video,
    # image): the family's own tokens, so templates and processors see what the hub checkpoints have.
    tiny_special_tokens: tuple[str, ...] = ("<unk>", "<s>", "</s>", "<pad>", "<video>", "<image>")
    token_roles: dict = field(default_factory=lambda: {"bos": "<s>", "eos": "</s>", "pad": "<pad>",
                                                       "video": "<video>", "image": "<image>"})

    @property
    def hub_id(self) -> str:
        """The default reference checkpoint (`model="qwen2.5-vl"` means this one)."""
        return self.hub_ids[0]

    @property
    def num_frames(self) -> int:
        """Frames per clip (or the cap, with fps sampling) the reference checkpoint was trained with."""
        return self.sampling.num_frames


_OPTIONAL = {"packed_inputs", "video_placeholder", "tiny_special_tokens", "token_roles"}


@cache
def _registry() -> tuple[dict[str, Family], dict[str, Family]]:
    """(name → family, model_type → family), from the `FAMILY` of every module in this package."""
    by_name, by_type = {}, {}
    for info in pkgutil.iter_modules(__path__):
        family = importlib.import_module(f"{__name__}.{info.name}").FAMILY
        missing = [f.name for f in fields(Family)
                   if f.name not in _OPTIONAL and getattr(family, f.name, None) in (None, "", ())]
        if missing:
            raise TypeError(f"Family in vidlm/families/{info.name}.py does not define {missing}")
        for table, key in ((by_name, family.name), (by_type, family.model_type)):
            if key in table:
                raise TypeError(f"Two family files declare {key!r}: {table[key].name} and {family.name}")
            table[key] = family
    return by_name, by_type


def get_family(name: str) -> Family:
    """The family called `name`, e.g. `get_family("video-llava")`."""
    by_name = _registry()[0]
    if name not in by_name:
        raise ValueError(f"Unknown family {name!r}; known: {sorted(by_name)}")
    return by_name[name]


def family_names() -> list[str]:
    return sorted(_registry()[0])


def family_of(config) -> Family:
    """The family whose model class builds a checkpoint with this config (from its `model_type`)."""
    by_type = _registry()[1]
    model_type = getattr(config, "model_type", None)
    if model_type not in by_type:
        raise ValueError(f"Checkpoint of model_type {model_type!r} is not a supported family; known: {sorted(by_type)}")
    return by_type[model_type]


def model_id(model: str) -> str:
    """A hub id or folder as given; a family name (`"qwen2.5-vl"`) becomes that family's default checkpoint."""
    by_name = _registry()[0]
    return by_name[model].hub_id if model in by_name else model


def family_for(model: str) -> Family:
    """The family of a checkpoint (hub id or folder, read from its config) or of a family name."""
    by_name = _registry()[0]
    if model in by_name:
        return by_name[model]
    from transformers import AutoConfig

    return family_of(AutoConfig.from_pretrained(model))


def hub_template(name: str) -> str:
    """The chat template text of a family's hub checkpoints, as the hub has it (`templates/<name>.jinja`; where
    each came from: tests/hub_snapshots/<owner>--<name>/SOURCES.json)."""
    from pathlib import Path

    return (Path(__file__).parent / "templates" / f"{name}.jinja").read_text(encoding="utf-8")


def tiny_backbones(ids: dict):
    """The tiny language model (Llama, hidden 128, 2 layers) and vision tower (CLIP, 64 px, patch 8) the LLaVA-style
    families' tiny checkpoints are built from; `ids` holds the tokenizer's vocab size and special token ids."""
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
