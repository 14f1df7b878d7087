"""The config of a fine-tuning run (`vidlm finetune`, `finetune(...)`, notebook 10's parameters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidlm.config.base import ConfigError, setting
from vidlm.config.groups import ModelSettings

# transformers' SchedulerType values that need nothing beyond the settings here (reduce_lr_on_plateau needs an
# evaluation metric); tests check each is still one of transformers' names.
LrScheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                      "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"]


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
                                           "context (max_position_embeddings, rope scaling included)", ge=1)
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
    resume: bool | str = setting(False, "continue from a checkpoint: 'auto' (the newest in output_dir/checkpoints, "
                                        "if any), a checkpoint folder, or false", nonempty=True)
    overwrite: bool = setting(False, "replace the run already in output_dir (its checkpoints and adapter), whatever "
                                     "its settings")
    seed: int = setting(0, "seed of data order, LoRA initialisation and dropout", ge=0)
    extra_training_args: dict = setting(factory=dict, help="passed through to transformers' TrainingArguments "
                                                           "(they win over the settings above)")

    def check(self) -> None:
        super().check()
        if self.max_steps <= 0 and self.num_epochs == 0:
            raise ConfigError(f"Nothing to train: max_steps={self.max_steps} and num_epochs=0; set max_steps > 0 "
                              "or num_epochs > 0")
        if self.max_steps == 0:
            raise ConfigError("max_steps must be -1 (run num_epochs) or >= 1, got 0")
