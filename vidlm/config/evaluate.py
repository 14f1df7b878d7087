"""The config of an evaluation: vanilla vs fine-tuned captions, scored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidlm.config.base import setting
from vidlm.config.groups import CaptioningSettings


@dataclass
class EvaluateConfig(CaptioningSettings):
    """What an evaluation (vanilla vs fine-tuned captions, scored) depends on."""

    output_dir: str = setting("results/eval", "captions.csv, metrics.json, metrics.md and run.json land here",
                              nonempty=True)
    meteor: bool | Literal["auto"] = setting("auto", "score METEOR 1.5 (needs Java); auto: None without Java")
