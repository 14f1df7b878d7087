"""The settings of every task — fine-tune, caption, evaluate — as dataclasses checked when they are made.

    config = FinetuneConfig(model="llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=8, max_steps=500)
    FinetuneConfig(model="m", learning_rate=-1)  # ConfigError: learning_rate must be > 0, got -1.0

Each field carries its type, default and help text (`metadata["help"]`) and its allowed range or choices; the
`vidlm` command builds its flags from them, and a notebook's `parameters` cell uses the same names. Fields are
checked one by one whenever they are set (at construction and on later assignment) and together after each, so a
bad setting fails before any weights load. Groups shared by several tasks are written once: `ModelSettings`
(every task) and `CaptioningSettings` (caption and evaluate).

Deprecated: `FinetuneConfig.save_steps` (use `save_every_steps`) warns and is removed in vidlm 0.2.0.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import re
import types
import typing
import warnings
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Literal, Union

from vidlm.models import Attention, Quantization, attention_problem

# transformers' SchedulerType values that need nothing beyond the settings here (reduce_lr_on_plateau needs an
# evaluation metric); tests check each is still one of transformers' names.
LrScheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                      "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"]


class ConfigError(ValueError):
    """A setting that cannot work; the message names the field, the value and what is allowed."""


def setting(default=MISSING, help: str = "", *, factory=MISSING, **rules):
    """A config field: its default (none: required), help text and rules — `gt`, `ge`, `lt`, `le` (bounds),
    `choices` (values, or a function returning them, read when checked), `nonempty` (for text), `regex` (the text
    must compile), `deprecated` (the vidlm version that removes the field), `metavar` (its name in `--help`)."""
    return field(default=default, default_factory=factory, metadata={"help": help, **rules})


def _describe(kind) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    return {int: "an integer", float: "a finite number", str: "text", bool: "true or false", dict: "a mapping",
            type(None): "None"}.get(kind, str(kind))


def _typed(kind, value):
    """`value` as `kind` (an int is a valid float and becomes one, a path becomes text), or raise TypeError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin in (Union, types.UnionType):
        for option in args:
            try:
                return _typed(option, value)
            except TypeError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is str:
        if isinstance(value, (str, os.PathLike)):  # a pathlib.Path for a folder or file setting
            return os.fspath(value)
    elif kind is type(None):
        if value is None:
            return value
    elif isinstance(kind, type) and isinstance(value, kind):
        return value
    raise TypeError(kind)


def parse_text(kind, text: str):
    """A value of type `kind` from command-line text: `8`, `2e-5`, `true`/`false`, `none` (where None is allowed),
    a JSON object for a mapping, or the text itself; ValueError when it reads as none of the types allowed."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if text in args:
            return text
    elif origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        for option in args:
            if option is not type(None):
                try:
                    return parse_text(option, text)
                except ValueError:
                    pass
    elif kind is bool:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.lower() in words:
            return words[text.lower()]
    elif kind is dict:
        value = json.loads(text)  # json.JSONDecodeError is a ValueError
        if isinstance(value, dict):
            return value
    elif kind in (int, float, str):
        return kind(text)
    raise ValueError(f"{text!r} is not {_describe(kind)}")


_BOUNDS = {"gt": (">", operator.gt), "ge": (">=", operator.ge), "lt": ("<", operator.lt), "le": ("<=", operator.le)}


@functools.cache
def field_types(cls) -> dict:
    """{field name: resolved type} of a config class."""
    return typing.get_type_hints(cls)


def check_field(cls, spec, value):
    """`value` checked against field `spec` of `cls` (type, then rules); returns it typed, else raises ConfigError."""
    name, rules = spec.name, spec.metadata
    try:
        value = _typed(field_types(cls)[name], value)
    except TypeError:
        raise ConfigError(f"{name} must be {_describe(field_types(cls)[name])}, got {value!r} "
                          f"({type(value).__name__})") from None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        bounds = [(symbol, holds, rules[key]) for key, (symbol, holds) in _BOUNDS.items() if key in rules]
        if not all(holds(value, limit) for _, holds, limit in bounds):
            allowed = " and ".join(f"{symbol} {limit}" for symbol, _, limit in bounds)
            raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    if isinstance(value, str):
        if rules.get("nonempty") and not value.strip():
            raise ConfigError(f"{name} must not be empty")
        if rules.get("regex"):
            try:
                re.compile(value)
            except re.error as err:
                raise ConfigError(f"{name} must be a regular expression, got {value!r} ({err})") from None
    choices = rules.get("choices")
    if choices is not None:
        choices = choices() if callable(choices) else choices
        if value not in choices:
            raise ConfigError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


class Config:
    """Base of the task configs: each field is checked as it is set, and once the config is made `check()` (the
    rules between fields) runs again after every change, which is undone when refused."""

    def __setattr__(self, name, value):
        spec = self.__dataclass_fields__.get(name)
        if spec is None:
            return object.__setattr__(self, name, value)
        value = check_field(type(self), spec, value)
        if not self.__dict__.get("_made"):  # still in __init__: __post_init__ checks the whole
            return object.__setattr__(self, name, value)
        before = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            self.check()
        except ConfigError:
            object.__setattr__(self, name, before)
            raise

    def __post_init__(self):
        self.check()
        object.__setattr__(self, "_made", True)

    def check(self) -> None:
        """Rules across fields; raise ConfigError."""

    @classmethod
    def from_namespace(cls, namespace):
        """The config made of the entries of `namespace` (a mapping) that are its fields; other names are ignored.

        For a notebook, whose `parameters` cell uses the fields' names next to its own (data paths, …):
        `config = FinetuneConfig.from_namespace(globals())`.
        """
        return cls(**{f.name: namespace[f.name] for f in fields(cls) if f.name in namespace})


def read_config_file(path) -> dict:
    """The mapping in a .yaml/.yml/.json config file (values not yet checked)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path} — pass a .yaml or .json file of settings")
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise ConfigError(f"Config file {path}: use a .yaml, .yml or .json file")
    except ValueError as err:  # json.JSONDecodeError
        raise ConfigError(f"Config file {path} is not valid JSON: {err}") from None
    except Exception as err:
        if type(err).__module__.startswith("yaml"):
            raise ConfigError(f"Config file {path} is not valid YAML: {' '.join(str(err).split())}") from None
        raise
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of settings (name: value), got "
                          f"{type(values).__name__}")
    return values


def known_keys(cls, values: dict, source) -> dict:
    """`values` if every key is a field of `cls`, else ConfigError naming the unknown keys and the known ones."""
    known = [f.name for f in fields(cls)]
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {unknown} for {cls.__name__}; known: {known}")
    return values


def model_source_problem(model: str, example: str = "llava-hf/LLaVA-NeXT-Video-7B-hf") -> str | None:
    """Why `model` (a hub id or a local folder) cannot be loaded, when that shows without loading it; else None.
    `example`: a hub id to suggest."""
    looks_local = model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model
    path = Path(model).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        return f"The model folder {model!r} has no config.json; pass a checkpoint folder or a hub id"
    if looks_local and not path.exists():
        return f"Model folder not found: {model!r}; pass a checkpoint folder or a hub id such as {example}"
    return None


def _prompt_names():
    from vidlm.prompt_table import PROMPTS

    return PROMPTS


@dataclass
class ModelSettings(Config):
    """The base model and how it sees videos (every task)."""

    model: str = setting(help="base model: hub id (e.g. llava-hf/LLaVA-NeXT-Video-7B-hf) or local checkpoint folder",
                         nonempty=True, metavar="ID_OR_PATH")
    quantization: Quantization = setting("4bit", "how the base model's weights are loaded (4bit = QLoRA)")
    num_frames: int = setting(8, "frames sampled uniformly from each video", ge=1)


@dataclass
class CaptioningSettings(ModelSettings):
    """What captions depend on (caption and evaluate): adapter, instruction and generation."""

    adapter: str | None = setting(None, "LoRA adapter folder written by finetune; leave out for the base model",
                                  nonempty=True, metavar="DIR")
    prompt: str | None = setting(None, "the instruction text; default: the prompt named by prompt_name", nonempty=True)
    prompt_name: str | None = setting(None, "a named instruction (vidlm.prompt_table); default: 'default'",
                                      choices=_prompt_names)
    batch_size: int = setting(8, "videos per generate() call", ge=1)
    max_new_tokens: int = setting(64, "longest caption, in tokens (greedy decoding stops earlier at EOS)", ge=1)
    # A model larger than one GPU: each process spreads it over its own GPUs (torchrun ranks × gpus_per_process)
    gpus_per_process: int = setting(1, "GPUs each process spreads the model over (local rank r takes GPUs "
                                       "[g·r, g·r+g)); 8 GPUs = 4 processes × 2", ge=1)
    max_memory_gib: float | None = setting(None, "at most this many GiB of the model's weights per GPU (accelerate's "
                                                 "max_memory); default: one GPU whole, or each GPU's memory", gt=0)
    attn_implementation: Attention | None = setting(None, "attention kernel: sdpa, eager or flash_attention_2 (needs "
                                                          "flash-attn); default: transformers' choice")

    def check(self) -> None:
        super().check()
        self.instruction()
        problem = attention_problem(self.attn_implementation)
        if problem:
            raise ConfigError(problem)

    def instruction(self) -> str:
        """The instruction text: `prompt`, else the one `prompt_name` names, else the "default" one."""
        if self.prompt is not None and self.prompt_name is not None:
            raise ConfigError(f"Give prompt or prompt_name, not both (prompt={self.prompt!r}, "
                              f"prompt_name={self.prompt_name!r})")
        return self.prompt if self.prompt is not None else _prompt_names()[self.prompt_name or "default"]


@dataclass
class RowJobSettings(Config):
    """How a row job (`vidlm.row_jobs`: caption, tag, motion) runs: resume, durability, shards, progress."""

    retry_failed: bool = setting(False, "on resume, process rows that failed before again (default: keep them)")
    fsync_every_s: float = setting(5.0, "force rows to disk at least this often (they are flushed after every "
                                        "batch)", ge=0)
    wait_timeout_s: float = setting(1800.0, "rank 0 gives up waiting for the other parts when none has grown for "
                                            "this long; also bounds the start-up barrier", gt=0)
    progress: bool = setting(True, "show a progress bar (rows/s and ETA) on rank 0")


@dataclass
class _CaptionFiles(Config):
    input_csv: str = setting(help="CSV with a `path` column; relative paths are relative to the CSV's folder; other "
                                  "columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the captions go: columns row, path, the other input columns, text (the "
                                   "caption), status (ok/failed), error", nonempty=True, metavar="OUT.csv")


@dataclass
class CaptionConfig(RowJobSettings, CaptioningSettings, _CaptionFiles):
    """What a captioning run depends on: `caption_csv(CaptionConfig("videos.csv", "captions.csv", model=...))`."""

    num_workers: int | None = setting(None, "video-decoding processes per captioning process (0: decode in it); "
                                            "default: a quarter of its CPU cores, 2 to 4", ge=0)
    group_by_length: bool = setting(True, "batch videos of similar file size together (a proxy for duration and "
                                          "caption length); output rows still carry their input row number")
    torch_threads: int | None = setting(None, "torch threads per process; default: its share of the CPU cores "
                                              "(cores / processes per node) less the decoding workers, at least 1",
                                        ge=1)
    # Captioning through an OpenAI-compatible server (vidlm.api_captioning); model is then the server's model name.
    backend: Literal["local", "openai"] = setting("local", "local: load the model in this process; openai: send "
                                                  "frames to an OpenAI-compatible chat-completions server (OpenAI, "
                                                  "vLLM, Ollama; needs `pip install vidlm[api]`), model then being "
                                                  "the server's model name, e.g. gpt-4o")
    base_url: str | None = setting(None, "openai backend: the server's API root, e.g. http://localhost:8000/v1 "
                                         "(vLLM) or http://localhost:11434/v1 (Ollama); default: OpenAI's",
                                   nonempty=True, metavar="URL")
    api_key_env: str = setting("OPENAI_API_KEY", "openai backend: the environment variable that holds the API key "
                                                 "(the key is never a setting, so it never reaches run.json)",
                               nonempty=True, metavar="NAME")
    frame_positions: str | None = setting(None, "openai backend: where frames are taken, as comma-separated "
                                                "fractions of the video, or 'uniform' for num_frames uniform frames; "
                                                "default: 0.1,0.5,0.9", nonempty=True, metavar="F,F,...")
    image_size: int | None = setting(None, "openai backend: shorter side of the frames sent, in pixels; default: "
                                           "as decoded", ge=16)
    jpeg_quality: int = setting(90, "openai backend: JPEG quality of the frames sent", ge=1, le=95)
    image_detail: Literal["auto", "low", "high"] = setting("auto", "openai backend: OpenAI's image detail (low: "
                                                                   "fewer tokens per frame); auto sends none")
    temperature: float = setting(0.0, "openai backend: sampling temperature (0: as close to greedy as the server "
                                      "allows)", ge=0, le=2)
    concurrency: int = setting(8, "openai backend: requests in flight at once", ge=1)
    max_retries: int = setting(6, "openai backend: retries of a request after 429, 5xx, a timeout, a dropped "
                                  "connection or a malformed reply", ge=0)
    retry_base_s: float = setting(1.0, "openai backend: the first backoff; it doubles per retry, with jitter (a "
                                       "server's Retry-After wins)", gt=0)
    retry_max_s: float = setting(60.0, "openai backend: the longest wait before a retry; a longer Retry-After "
                                       "stops the run (resumable)", gt=0)
    request_timeout_s: float = setting(120.0, "openai backend: seconds one request may take", gt=0)
    price_input_per_1m: float | None = setting(None, "openai backend: price of 1M prompt tokens, for the cost "
                                                     "estimate in run.json", ge=0)
    price_output_per_1m: float | None = setting(None, "openai backend: price of 1M completion tokens", ge=0)

    def check(self) -> None:
        super().check()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            # Not echoed: a key pasted here by mistake must not reach the terminal or a log.
            raise ConfigError("api_key_env must be the name of an environment variable (letters, digits and _), "
                              "such as OPENAI_API_KEY, not the key itself; the value given is not shown")
        if self.backend == "local":
            if self.frame_positions is not None:
                raise ConfigError(f"frame_positions={self.frame_positions!r} applies to backend 'openai'; the local "
                                  "backend samples num_frames frames uniformly")
            return
        if self.adapter is not None:
            raise ConfigError(f"adapter={self.adapter!r} cannot be used with backend 'openai' (the server holds the "
                              "weights); leave --adapter out, or use --backend local")
        self.positions()

    def positions(self) -> list[float] | None:
        """The openai backend's frame positions (fractions of the video), or None for num_frames uniform frames."""
        text = "0.1,0.5,0.9" if self.frame_positions is None else self.frame_positions.strip()
        if text == "uniform":
            return None
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if not values or not all(0 <= v <= 1 for v in values):
            raise ConfigError(f"frame_positions must be 'uniform' or comma-separated fractions from 0 to 1 (e.g. "
                              f"0.1,0.5,0.9), got {self.frame_positions!r}")
        return values


@dataclass
class _TagFiles(Config):
    input_csv: str = setting(help="CSV with a column of captions (`column`: `text`, as vidlm caption writes); other "
                                  "columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the tags go: columns tag_row, the caption column, the other input "
                                   "columns, objects and/or actions (JSON lists), objects_raw/actions_raw (the "
                                   "reply, kept when it holds no [...] list), tag_status (ok/failed), tag_error",
                              nonempty=True, metavar="OUT.csv")


@dataclass
class TagConfig(RowJobSettings, _TagFiles):
    """What an LLM tagging run depends on: `tag_csv(TagConfig("captions.csv", "tags.csv", model=...))`."""

    model: str = setting("Qwen/Qwen2.5-0.5B-Instruct", "a causal LM with a chat template (an instruct model): hub "
                         "id or local folder", nonempty=True, metavar="ID_OR_PATH")
    key: Literal["objects", "actions", "both"] = setting("both", "what to extract from each caption: objects "
                                                         "(nouns), actions (verbs), or both (two prompts)")
    column: str = setting("text", "the input column that holds the captions", nonempty=True)
    batch_size: int = setting(16, "captions per generate() call (left-padded)", ge=1)
    max_new_tokens: int = setting(48, "longest reply, in tokens (greedy decoding stops earlier at the end of the "
                                      "turn); a reply cut short has no closing ] and is kept raw", ge=1)
    torch_threads: int | None = setting(None, "torch threads per process; default: torch's own, shared between the "
                                              "processes on this machine", ge=1)


@dataclass
class EvaluateConfig(CaptioningSettings):
    """What an evaluation (vanilla vs fine-tuned captions, scored) depends on."""

    output_dir: str = setting("results/eval", "captions.csv, metrics.json, metrics.md and run.json land here",
                              nonempty=True)
    meteor: bool | Literal["auto"] = setting("auto", "score METEOR 1.5 (needs Java); auto: None without Java")


@dataclass
class FinetuneConfig(ModelSettings):
    """Everything a fine-tuning run depends on; a notebook's `parameters` cell uses the same names."""

    dataset: str = setting("", "the training captions CSV (the command line's TRAIN.csv) or what the samples are "
                               "('mixkit+pexels'…): recorded in run.json and the model card")
    output_dir: str = setting("runs/finetune", "the adapter, processor and run.json land in output_dir/adapter",
                              nonempty=True)
    lora_r: int = setting(8, "LoRA rank", ge=1)
    lora_alpha: int = setting(16, "LoRA scaling: the update is scaled by lora_alpha / lora_r", ge=1)
    lora_dropout: float = setting(0.05, "dropout on the LoRA input", ge=0, lt=1)
    lora_target_modules: str | None = setting(None, "regex over module names; default: the family's language-model "
                                                    "linear layers", nonempty=True, regex=True)
    train_projector: bool = setting(False, "also train the multimodal projector in full")
    learning_rate: float = setting(2e-5, "learning rate of the LoRA weights", gt=0)
    projector_learning_rate: float | None = setting(None, "learning rate of the projector; default: learning_rate",
                                                    gt=0)
    max_steps: int = setting(-1, "optimizer steps; -1: run num_epochs", ge=-1)
    num_epochs: float = setting(1.0, "passes over the data (when max_steps is -1)", ge=0)
    batch_size: int = setting(1, "clips per device per step", ge=1)
    gradient_accumulation_steps: int = setting(8, "batches per optimizer step", ge=1)
    warmup_steps: int = setting(0, "steps of linear learning-rate warm-up", ge=0)
    lr_scheduler: LrScheduler = setting("cosine", "learning-rate schedule after warm-up (transformers' names)")
    min_lr_ratio: float = setting(0.0, "cosine decays to learning_rate × this", ge=0, le=1)
    weight_decay: float = setting(0.0, "AdamW weight decay", ge=0)
    max_grad_norm: float = setting(1.0, "gradient clipping norm; 0: no clipping", ge=0)
    gradient_checkpointing: bool = setting(True, "recompute activations in the backward pass (less memory, slower)")
    max_length: int | None = setting(None, "longest sequence in tokens; default: the language model's "
                                           "max_position_embeddings", ge=1)
    cache_features: bool = setting(False, "keep processed clips in memory after the first epoch (small datasets "
                                          "only)")
    feature_cache_dir: str | None = setting(None, "keep processed clips on disk across runs (vidlm.feature_cache)",
                                            nonempty=True)
    num_workers: int | None = setting(None, "video-decoding processes feeding training (0: decode in the training "
                                            "process, between steps); default: 0 without a GPU or with "
                                            "cache_features, else 2 to 4 (a quarter of the process's CPU cores)",
                                      ge=0)
    eval_every_steps: int = setting(0, "caption the eval samples every N steps and log caption metrics; 0: never",
                                    ge=0)
    eval_max_new_tokens: int = setting(32, "longest caption generated at those evaluations, in tokens", ge=1)
    eval_batch_size: int = setting(8, "clips per generate() call at those evaluations", ge=1)
    logging_steps: int = setting(10, "log the loss every N steps", ge=1)
    save_every_steps: int = setting(0, "Trainer checkpoint (adapter, optimizer, scheduler, RNG) every N steps; "
                                       "0: none", ge=0)
    save_steps: int = setting(0, "deprecated name of save_every_steps", ge=0, deprecated="0.2.0")
    resume: bool | str = setting(False, "continue from a checkpoint: 'auto' (the newest in output_dir/checkpoints, "
                                        "if any), a checkpoint folder, or false", nonempty=True)
    overwrite: bool = setting(False, "replace the run already in output_dir (its checkpoints and adapter), whatever "
                                     "its settings")
    seed: int = setting(0, "seed of data order, LoRA initialisation and dropout", ge=0)
    extra_training_args: dict = setting(factory=dict, help="passed through to transformers' TrainingArguments "
                                                           "(they win over the settings above)")

    def check(self) -> None:
        super().check()
        if self.save_steps:
            warnings.warn("FinetuneConfig.save_steps is deprecated and will be removed in vidlm 0.2.0; use "
                          "save_every_steps", FutureWarning, stacklevel=4)
            if self.save_every_steps not in (0, self.save_steps):
                raise ConfigError(f"save_steps={self.save_steps} and save_every_steps={self.save_every_steps} "
                                  "disagree; set only save_every_steps")
            object.__setattr__(self, "save_every_steps", self.save_steps)  # both checked already
            object.__setattr__(self, "save_steps", 0)
        if self.max_steps <= 0 and self.num_epochs == 0:
            raise ConfigError(f"Nothing to train: max_steps={self.max_steps} and num_epochs=0; set max_steps > 0 "
                              "or num_epochs > 0")
        if self.max_steps == 0:
            raise ConfigError("max_steps must be -1 (run num_epochs) or >= 1, got 0")


@dataclass
class _MotionFiles(Config):
    input_csv: str = setting(help="CSV with a `path` column (relative paths are relative to the CSV's folder); "
                                  "other columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the tags go: columns motion_row, path, the other input columns, cmotion "
                                   "(pan_left, zoom_in, pan_left+zoom_in, static, unclassified, …), motion_status "
                                   "(ok/failed), motion_error", nonempty=True, metavar="OUT.csv")


@dataclass
class MotionConfig(RowJobSettings, _MotionFiles):
    """What a camera-motion tagging run depends on: `motion_csv(MotionConfig("videos.csv", "motion.csv"))`."""

    threshold: float = setting(0.25, "displacement over the whole clip, as a fraction of the frame's shorter side, "
                                     "from which a pan, tilt or zoom counts (Open-Sora's factor)", gt=0)
    num_frames: int = setting(8, "frames compared per video (neighbours are aligned, the moves composed)", ge=2)
    size: int = setting(64, "frames are decoded at this many pixels on the shorter side", ge=16)
    caption_column: str | None = setting(None, "also append 'Camera motion: pan left.' to this caption column "
                                               "(e.g. text, as vidlm caption writes it)", nonempty=True)
