"""Fine-tune with LoRA/QLoRA: a thin layer over transformers' Trainer that saves adapter, processor and run record.

    config = FinetuneConfig(model="llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=8, max_steps=500)
    result = finetune(config, read_captions_csv("train/captions.csv"))
    result.adapter_dir  # adapter_model.safetensors, processor files, run.json
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from vidlm.config import FinetuneConfig  # defined with the other configs; importable from here too
from vidlm.data import Sample


@dataclass
class FinetuneResult:
    adapter_dir: Path
    record_path: Path
    log_history: list[dict]
    model: object  # the trained PeftModel
    seconds: float


def finetune(config: FinetuneConfig, train_samples: list[Sample], callbacks=None, verbose: bool = True,
             eval_samples: list[Sample] | None = None):
    """Train LoRA adapters on `train_samples` and save them; returns a `FinetuneResult`.

    eval_samples: with `config.eval_every_steps`, captioned every N steps; BLEU/ROUGE-L/CIDEr are logged next to the
    loss (in `log_history`, and in TensorBoard with `extra_training_args={"report_to": "tensorboard"}`).
    """
    import torch
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.utils import is_in_notebook
    from transformers.utils.notebook import NotebookProgressCallback

    from vidlm.collate import TrainCollator, check_token_budget
    from vidlm.data import VideoTextDataset
    from vidlm.families import family_for
    from vidlm.lora import LoraSettings, apply_lora
    from vidlm.models import load_model, load_processor
    from vidlm.progress import live_notebook
    from vidlm.runinfo import write_run_record

    if not train_samples:
        raise ValueError("No training samples")
    set_seed(config.seed)
    family = family_for(config.model)  # resolved once; passed to everything below
    processor = load_processor(config.model, family=family)
    model = load_model(config.model, quantization=config.quantization, family=family)
    dataset = VideoTextDataset(train_samples, processor, family, config.num_frames, cache=config.cache_features,
                               feature_cache=config.feature_cache_dir)
    budget = check_token_budget(processor, model.config, family, dataset.num_frames,
                                [dataset.prompt(s) for s in train_samples], config.max_length,
                                ids=[s.id for s in train_samples], video_sizes=dataset.video_sizes())
    if verbose:
        print(f"Token budget: {budget.summary()}")
    out = Path(config.output_dir)
    resume_from = resume_checkpoint(config.resume, out / "checkpoints")
    if verbose and resume_from:
        print(f"Resuming from {resume_from}")
    model = apply_lora(model, LoraSettings(config.lora_r, config.lora_alpha, config.lora_dropout,
                                           config.lora_target_modules, config.train_projector,
                                           config.gradient_checkpointing), family, verbose=verbose)
    optimizer = torch.optim.AdamW(_param_groups(model, family, config), weight_decay=config.weight_decay)
    save_every = config.save_every_steps or config.save_steps
    settings = dict(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        max_steps=config.max_steps,
        num_train_epochs=config.num_epochs,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type="cosine_with_min_lr" if config.min_lr_ratio > 0 else config.lr_scheduler,
        lr_scheduler_kwargs={"min_lr_rate": config.min_lr_ratio} if config.min_lr_ratio > 0 else {},
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        save_strategy="steps" if save_every else "no",
        save_steps=save_every or 500,
        save_total_limit=2,
        seed=config.seed,
        bf16=getattr(model, "dtype", None) == torch.bfloat16,
        report_to="none",
        remove_unused_columns=False,  # the collator needs pixel_values_videos
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not verbose,
        # On CPU-only machines accelerate runs torchrun's processes as gloo DDP only when told to use the CPU;
        # otherwise each process would train alone on its full copy of the data.
        use_cpu=not torch.cuda.is_available(),
    )
    args = TrainingArguments(**{**settings, **config.extra_training_args})  # extra_training_args win
    callbacks = list(callbacks or [])
    # Under papermill the Trainer's HTML table reaches no log: the loss goes out as text lines instead of the table.
    print_loss = verbose and is_in_notebook() and not live_notebook()
    if print_loss:
        callbacks.append(_PrintLoss())
    if config.eval_every_steps and eval_samples:
        caption_eval = CaptionEvalCallback(processor, eval_samples, config.eval_every_steps, dataset.num_frames,
                                           config.eval_max_new_tokens, config.batch_size, family=family)
        callbacks.append(caption_eval)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, None),
                      data_collator=TrainCollator(processor.tokenizer.pad_token_id, family.packed_inputs), callbacks=callbacks)
    if print_loss:
        trainer.remove_callback(NotebookProgressCallback)
    for callback in callbacks:
        if isinstance(callback, CaptionEvalCallback):
            callback.trainer = trainer  # it logs through the trainer, so every reporter (TensorBoard…) sees it
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    adapter_dir = out / "adapter"
    record = adapter_dir / "run.json"
    if trainer.is_world_process_zero():  # under torchrun every rank holds the same weights: one writes them
        model.save_pretrained(adapter_dir, safe_serialization=True)
        processor.save_pretrained(adapter_dir)
        write_run_record(record, config, family=family.name, sampling=family.sampling.record(dataset.num_frames),
                         train_samples=len(train_samples),
                         train_seconds=round(seconds, 1), resumed_from=resume_from,
                         world_size=trainer.args.world_size, log_history=trainer.state.log_history)
    return FinetuneResult(adapter_dir, record, trainer.state.log_history, model, seconds)


def resume_checkpoint(resume: bool | str | None, checkpoint_dir) -> str | None:
    """The Trainer checkpoint to resume from: None (start afresh), the newest `checkpoint-N` (resume="auto" or
    True; None when there is none yet, so the same call starts and later resumes a run) or the folder given."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume in (False, None, ""):
        return None
    if resume in (True, "auto"):
        return get_last_checkpoint(str(checkpoint_dir)) if Path(checkpoint_dir).is_dir() else None
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"resume={resume!r} is not a Trainer checkpoint (no trainer_state.json there); pass "
                                f"a checkpoint-N folder, 'auto' for the newest in {checkpoint_dir}, or False")
    return str(path)


class _PrintLoss(TrainerCallback):
    """One printed line per logging step: step, loss, learning rate, elapsed time."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            print(f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                  f"lr {logs.get('learning_rate', 0):.2e}  {time.perf_counter() - self.start:.0f} s", flush=True)


class CaptionEvalCallback(TrainerCallback):
    """Every `every_steps` optimizer steps, caption `samples` with the model being trained and log caption metrics.

    Logged as `eval_BLEU-4`, `eval_ROUGE-L`, `eval_CIDEr`… through `trainer.log`, so they land in `log_history`
    next to the loss and in whatever `report_to` names. METEOR is left out: it would start Java at every evaluation.
    """

    def __init__(self, processor, samples: list[Sample], every_steps: int, num_frames: int,
                 max_new_tokens: int = 32, batch_size: int = 8, family=None):
        if every_steps <= 0:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        self.processor, self.samples, self.every_steps = processor, samples, every_steps
        self.num_frames, self.max_new_tokens, self.batch_size = num_frames, max_new_tokens, batch_size
        self.family = family  # None: read from the model's config at the first evaluation
        self.trainer = None
        self._frames = None  # decoded at the first evaluation, reused at every later one

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps or self.trainer is None:
            return
        from vidlm.captioning import caption_videos
        from vidlm.metrics import score_captions
        from vidlm.families import family_of

        self.family = self.family or family_of(model.config)
        if self._frames is None:
            self._frames = [self.family.sampling.load(s.video, self.num_frames, window=getattr(s, "window", None))
                            for s in self.samples]
        with _no_cpu_inference_repacking(model):
            captions = caption_videos(model, self.processor, self._frames, batch_size=self.batch_size,
                                      max_new_tokens=self.max_new_tokens, progress=False, family=self.family)
        model.train()  # caption_videos switched it to eval mode
        scores = score_captions(captions, [[s.answer] for s in self.samples], meteor=False)
        should_log = control.should_log  # logging clears it: the Trainer must still log this step's loss
        self.trainer.log({f"eval_{name}": value for name, value in scores.items() if value is not None})
        control.should_log = should_log


@contextmanager
def _no_cpu_inference_repacking(model):
    """Keep bitsandbytes from repacking 4-bit weights for its CPU inference kernel while we caption mid-training.

    In eval mode on CPUs with AVX512-BF16, bitsandbytes converts each 4-bit weight to a layout whose matmul has no
    autograd; training after that silently stops propagating gradients through the frozen layers.
    """
    layers = [m for m in model.modules() if getattr(m, "support_avx512bf16_for_cpu", False)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    try:
        yield
    finally:
        for layer in layers:
            layer.support_avx512bf16_for_cpu = True


def _param_groups(model, family, config: FinetuneConfig) -> list[dict]:
    projector = family.projector.rsplit(".", 1)[-1]
    proj, rest = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (proj if projector in name and "lora_" not in name else rest).append(param)
    groups = [{"params": rest, "lr": config.learning_rate}]
    if proj:
        groups.append({"params": proj, "lr": config.projector_learning_rate or config.learning_rate})
    return groups
