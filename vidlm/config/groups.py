"""The groups of settings several tasks share, written once: the model (every task), what captions depend on
(caption and evaluate), how a row job runs (caption, tag, motion)."""

from __future__ import annotations

from dataclasses import dataclass

from vidlm.config.base import Config, ConfigError, setting
from vidlm.models import Attention, Quantization, attention_problem


def _prompt_names():
    from vidlm.prompts import PROMPTS

    return PROMPTS


@dataclass
class ModelSettings(Config):
    """The base model and how it sees videos (every task)."""

    model: str = setting(help="base model: hub id (e.g. llava-hf/LLaVA-NeXT-Video-7B-hf) or local checkpoint folder",
                         nonempty=True, metavar="ID_OR_PATH")
    quantization: Quantization = setting("4bit", "how the base model's weights are loaded (4bit = QLoRA)")
    num_frames: int | None = setting(None, "frames taken from each video (spread uniformly, or at the family's "
                                           "frames per second up to this many); default: the family's own, e.g. 8 for "
                                           "Video-LLaVA, 32 for LLaVA-NeXT-Video (fewer where the checkpoint's "
                                           "context needs it: 26 for the 34B)", ge=1)


@dataclass
class CaptioningSettings(ModelSettings):
    """What captions depend on (caption and evaluate): adapter, instruction and generation."""

    adapter: str | None = setting(None, "LoRA adapter folder written by finetune; leave out for the base model",
                                  nonempty=True, metavar="DIR")
    prompt: str | None = setting(None, "the instruction text; default: the prompt named by prompt_name", nonempty=True)
    prompt_name: str | None = setting(None, "a named instruction (vidlm.prompts); default: 'default'",
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
    """How a row job (`vidlm.jobs.rows`: caption, tag, motion) runs: resume, durability, shards, progress."""

    retry_failed: bool = setting(False, "on resume, process rows that failed before again (default: keep them)")
    fsync_every_s: float = setting(5.0, "force rows to disk at least this often (they are flushed after every "
                                        "batch)", ge=0)
    wait_timeout_s: float = setting(1800.0, "rank 0 gives up waiting for the other parts when none has grown for "
                                            "this long; also bounds the start-up barrier", gt=0)
    progress: bool = setting(True, "show a progress bar (rows/s and ETA) on rank 0")
