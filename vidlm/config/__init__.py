"""The settings of every task — fine-tune, caption, evaluate — as dataclasses checked when they are made.

    config = FinetuneConfig(model="llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=8, max_steps=500)
    FinetuneConfig(model="m", learning_rate=-1)  # ConfigError: learning_rate must be > 0, got -1.0

Each field carries its type, default and help text (`metadata["help"]`) and its allowed range or choices; the
`vidlm` command builds its flags from them, and a notebook's `parameters` cell uses the same names. Fields are
checked one by one whenever they are set (at construction and on later assignment) and together after each, so a
bad setting fails before any weights load. Groups shared by several tasks are written once: `ModelSettings`
(every task), `CaptioningSettings` (caption and evaluate) and `RowJobSettings` (caption, tag, motion).

`base` holds the machinery, `groups` the shared groups, and one module per task its config.
"""

from vidlm.config.base import (Config, ConfigError, check_field, field_types, known_keys, model_source_problem,
                               parse_text, read_config_file, setting)
from vidlm.config.evaluate import EvaluateConfig
from vidlm.config.finetune import FinetuneConfig, LrScheduler
from vidlm.config.groups import CaptioningSettings, ModelSettings, RowJobSettings
from vidlm.config.jobs import CaptionConfig, MotionConfig, TagConfig

__all__ = ["CaptionConfig", "CaptioningSettings", "Config", "ConfigError", "EvaluateConfig", "FinetuneConfig",
           "LrScheduler", "ModelSettings", "MotionConfig", "RowJobSettings", "TagConfig", "check_field",
           "field_types", "known_keys", "model_source_problem", "parse_text", "read_config_file", "setting"]
