"""Fine-tune with LoRA/QLoRA: a thin layer over transformers' Trainer that saves adapter, processor and run record.

    config = FinetuneConfig(model="llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=8, max_steps=500)
    result = finetune(config, read_captions_csv("train/captions.csv"))
    result.adapter_dir  # adapter_model.safetensors, processor files, run.json
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from vidlm.config import FinetuneConfig  # defined with the other configs; importable from here too
from vidlm.data.samples import Sample


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
    from vidlm.runtime.run_lock import RunLock

    if not train_samples:
        raise ValueError("No training samples")

    out = Path(config.output_dir)
    with RunLock(out) if _is_main_process() else nullcontext():  # under torchrun, rank 0 speaks for the job
        return _finetune(config, train_samples, callbacks, verbose, eval_samples, out)


def _finetune(config: FinetuneConfig, train_samples: list[Sample], callbacks, verbose: bool, eval_samples,
              out: Path) -> FinetuneResult:
    import torch
    from transformers import Trainer, TrainerState, TrainingArguments, set_seed
    from transformers.utils import is_in_notebook
    from transformers.utils.notebook import NotebookProgressCallback

    from vidlm.caption_eval import CaptionEvalCallback
    from vidlm.checkpoints import CompleteCheckpoints, newest_complete, resume_checkpoint
    from vidlm.collate import TrainCollator, check_token_budget
    from vidlm.data.samples import VideoTextDataset
    from vidlm.budget import default_frames
    from vidlm.families import family_for, model_id
    from vidlm.lora import LoraSettings, apply_lora
    from vidlm.models import load_config, load_model, load_processor
    from vidlm.precision import this_machine, trainable_in_float32
    from vidlm.runtime.progress import live_notebook
    from vidlm.runtime.runinfo import write_run_record

    main = _is_main_process()
    run_settings = _run_settings(config, train_samples)
    _check_used_output_dir(config, out, run_settings, main)
    adapter_dir = out / "adapter"
    if config.resume in (True, "auto"):
        record = _read_json(adapter_dir / "run.json")
        if record.get("steps_trained") is not None and _reached(config, record["steps_trained"],
                                                                record["epochs_trained"], out):
            return _finished(config, adapter_dir, record, verbose)
    if main:
        from vidlm.runtime.atomic import write_text
        from vidlm.runtime.runinfo import redact

        write_text(out / _SETTINGS, json.dumps(redact(run_settings), indent=2, default=str) + "\n")
    set_seed(config.seed)
    family = family_for(config.model)  # resolved once; passed to everything below
    processor = load_processor(config.model, family=family)
    num_frames = config.num_frames or default_frames(family, load_config(model_id(config.model)))
    if verbose:  # memory known before any weight loads (vidlm.memory)
        from vidlm.memory import estimate_memory, visible_gpu_gib

        estimate = estimate_memory(
            config.model, num_frames=num_frames, batch_size=config.batch_size,
            quantization=config.quantization, lora_r=config.lora_r, lora_target_modules=config.lora_target_modules,
            gradient_checkpointing=config.gradient_checkpointing, train_projector=config.train_projector,
            gpu_gib=visible_gpu_gib())
        print(estimate)
        if not estimate.fits:
            warnings.warn(f"The estimate exceeds this GPU's memory:\n{estimate}", ResourceWarning, stacklevel=2)
    precision = this_machine()
    model = load_model(config.model, quantization=config.quantization, dtype=precision.torch_dtype, family=family)
    dataset = VideoTextDataset(train_samples, processor, family, num_frames, cache=config.cache_features,
                               feature_cache=config.feature_cache_dir)
    budget = check_token_budget(processor, model.config, family, dataset.num_frames,
                                [dataset.prompt(s) for s in train_samples], config.max_length,
                                ids=[s.id for s in train_samples], video_sizes=dataset.video_sizes())
    if verbose:
        print(f"Token budget: {budget.summary()}")
    resume_from = resume_checkpoint(config.resume, out / "checkpoints", remove_torn=main)
    if verbose and resume_from:
        print(f"Resuming from {resume_from}")
    model = apply_lora(model, LoraSettings(config.lora_r, config.lora_alpha, config.lora_dropout,
                                           config.lora_target_modules, config.train_projector,
                                           config.gradient_checkpointing), family, verbose=verbose)
    trainable_in_float32(model, precision)  # before the optimizer takes the parameters
    optimizer = torch.optim.AdamW(_param_groups(model, family, config), weight_decay=config.weight_decay)
    args = TrainingArguments(**{**training_settings(config, out, precision, torch.cuda.is_available(), verbose),
                                **config.extra_training_args})  # extra_training_args win
    checkpoints = CompleteCheckpoints()
    callbacks = [*(callbacks or []), checkpoints]
    # Under papermill the Trainer's HTML table reaches no log: the loss goes out as text lines instead of the table.
    print_loss = verbose and is_in_notebook() and not live_notebook()
    if print_loss:
        callbacks.append(_PrintLoss())
    if config.eval_every_steps and eval_samples:
        caption_eval = CaptionEvalCallback(processor, eval_samples, config.eval_every_steps, dataset.num_frames,
                                           config.eval_max_new_tokens, config.eval_batch_size, family=family)
        callbacks.append(caption_eval)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, None),
                      data_collator=TrainCollator(processor.tokenizer.pad_token_id, family.packed_inputs),
                      callbacks=callbacks)
    if print_loss:
        trainer.remove_callback(NotebookProgressCallback)
    for callback in callbacks:
        if isinstance(callback, CaptionEvalCallback):
            callback.trainer = trainer  # it logs through the trainer, so every reporter (TensorBoard…) sees it
    start = time.perf_counter()
    state = TrainerState.load_from_json(str(Path(resume_from, "trainer_state.json"))) if resume_from else None
    if state is not None and _reached(config, state.global_step, state.epoch, out):
        # Killed after its last checkpoint but before the adapter was saved: the Trainer would train one step more.
        _load_adapter_weights(model, resume_from)
        trainer.state = state
    else:
        try:
            trainer.train(resume_from_checkpoint=resume_from)
        except Exception as error:
            if checkpoints.saving is not None and _disk_full(error, checkpoints.saving):
                newest, _ = newest_complete(out / "checkpoints")
                raise OSError(errno.ENOSPC, f"No space left on the device while saving checkpoint "
                              f"{checkpoints.saving}; free some space and run again with resume='auto': it goes on "
                              f"from {newest or 'the start (no complete checkpoint yet)'}") from error
            raise
    seconds = time.perf_counter() - start
    record = adapter_dir / "run.json"
    if trainer.is_world_process_zero():  # under torchrun every rank holds the same weights: one writes them
        def write_record():
            write_run_record(record, config, family=family.name, sampling=family.sampling.record(dataset.num_frames),
                             train_samples=len(train_samples), train_seconds=round(seconds, 1),
                             resumed_from=resume_from, world_size=trainer.args.world_size, precision=precision.dtype,
                             steps_trained=trainer.state.global_step, epochs_trained=trainer.state.epoch,
                             log_history=trainer.state.log_history)
        _publish_adapter(model, processor, adapter_dir, write_record)
    return FinetuneResult(adapter_dir, record, trainer.state.log_history, model, seconds)


def training_settings(config: FinetuneConfig, out: Path, precision, cuda: bool, verbose: bool = True) -> dict:
    """The TrainingArguments fields a run sets (before `extra_training_args`), for this machine's `precision`
    (`vidlm.precision`) and whether it has a GPU."""
    return dict(
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
        save_strategy="steps" if config.save_every_steps else "no",
        save_steps=config.save_every_steps or 500,
        save_total_limit=2,
        seed=config.seed,
        **precision.trainer_args(),  # bf16 autocast, fp16 autocast + loss scaling, or neither (CPU)
        report_to="none",
        remove_unused_columns=False,  # the collator needs pixel_values_videos
        dataloader_pin_memory=cuda,
        **loader_settings(config.num_workers, cuda, config.cache_features),
        disable_tqdm=not verbose,
        # On CPU-only machines accelerate runs torchrun's processes as gloo DDP only when told to use the CPU;
        # otherwise each process would train alone on its full copy of the data.
        use_cpu=not cuda,
    )


_SETTINGS = "run_settings.json"  # in output_dir: what the run there trains with, to refuse another run mixing in
# Fields that may change between runs into one output_dir: how long to train, where and how often to report or save,
# and caches that do not change what is computed.
_FREE_TO_CHANGE = {"output_dir", "resume", "overwrite", "max_steps", "num_epochs", "logging_steps",
                   "save_every_steps", "eval_every_steps", "eval_max_new_tokens", "eval_batch_size", "cache_features",
                   "feature_cache_dir", "dataset", "num_workers"}


def loader_settings(num_workers: int | None, cuda: bool, in_memory_cache: bool = False) -> dict:
    """The Trainer's DataLoader settings: `num_workers` decoding processes, else 0 without a GPU (training uses the
    cores) and `default_parallelism`'s 2 to 4 with one — without workers every step waits for its clips to decode
    (benchmarks/bench_data.py: one worker makes 1.5 to 7 samples/s at the families' real sizes from 20 s footage).
    Workers live for the whole run and keep 4 batches ready each. With the in-memory cache (`cache_features`) the
    default is 0: each worker would keep its own copy of the features it made, and the training process none."""
    from vidlm.runtime.launch import default_parallelism, process_info

    if num_workers is None:
        gain = cuda and not in_memory_cache
        num_workers = default_parallelism(process_info().local_world_size)[0] if gain else 0
    if not num_workers:
        return {"dataloader_num_workers": 0}
    return {"dataloader_num_workers": num_workers, "dataloader_persistent_workers": True,
            "dataloader_prefetch_factor": 4}


def _run_settings(config: FinetuneConfig, samples: list[Sample]) -> dict:
    """What must match for a run to continue the one already in output_dir: the settings and the training data."""
    import dataclasses
    import hashlib

    from vidlm.runtime.runinfo import redact

    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in _FREE_TO_CHANGE}
    data = json.dumps([[s.id, s.video, s.instruction, s.history, s.answer, s.window] for s in samples], default=str)
    fields["training samples"] = f"{len(samples)} clips ({hashlib.sha256(data.encode()).hexdigest()[:12]})"
    return json.loads(json.dumps(redact(fields), default=str))  # as it reads back from the file


def _check_used_output_dir(config: FinetuneConfig, out: Path, settings: dict, main: bool) -> None:
    """Refuse a run with other settings into an output_dir that holds one, unless asked to continue (resume=a
    checkpoint folder) or to overwrite; clear what a fresh start (resume=False) or overwrite=True replaces."""
    before = _read_json(out / _SETTINGS)
    if config.overwrite:
        if main:
            for name in ("checkpoints", "adapter"):
                shutil.rmtree(out / name, ignore_errors=True)
            (out / _SETTINGS).unlink(missing_ok=True)
        return
    changes = [f"{k}: {_shown(before.get(k))} → {_shown(v)}" for k, v in settings.items()
               if before and before.get(k) != v]
    explicit = config.resume not in (False, None, "", True, "auto")
    if changes and not explicit:
        raise ValueError(f"{out} holds a run with other settings ({'; '.join(changes)}): pick another output_dir, "
                         "set overwrite=True to replace that run, or resume=<one of its checkpoint folders> to "
                         "continue it with these settings")
    if main:
        for leftover in out.glob(".adapter-*"):  # a killed run's half-saved adapter
            shutil.rmtree(leftover, ignore_errors=True)
        if config.resume in (False, None, ""):  # a fresh start of the same run: its old checkpoints must not mix in
            shutil.rmtree(out / "checkpoints", ignore_errors=True)


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _reached(config: FinetuneConfig, steps: int, epochs: float, out: Path) -> bool:
    """Whether a run at `steps`/`epochs` has done what `config` asks; asking for less than it did is an error."""
    if config.max_steps > 0:
        asked, done, more = f"max_steps={config.max_steps}", steps >= config.max_steps, steps > config.max_steps
    else:
        asked = f"num_epochs={config.num_epochs}"
        done, more = epochs >= config.num_epochs - 1e-6, epochs > config.num_epochs + 1e-6
    if more:
        raise ValueError(f"{out} holds a run already trained {steps} steps ({epochs:.3g} epochs), more than {asked}: "
                         "ask for at least that much to continue it, or set overwrite=True to train it afresh")
    return done


def _finished(config: FinetuneConfig, adapter_dir: Path, record: dict, verbose: bool) -> FinetuneResult:
    from vidlm.adapters import load_adapter

    if verbose:
        print(f"This run is already finished ({record['steps_trained']} steps): nothing to train. The adapter is in "
              f"{adapter_dir}. To train on, raise max_steps or num_epochs; to train again, set overwrite=True.")
    model = load_adapter(config.model, adapter_dir, quantization=config.quantization)
    return FinetuneResult(adapter_dir, adapter_dir / "run.json", record.get("log_history", []), model, 0.0)


def _load_adapter_weights(model, checkpoint) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(Path(checkpoint, "adapter_model.safetensors"))))


def _publish_adapter(model, processor, adapter_dir: Path, write_record) -> None:
    """Save adapter and processor into a fresh folder beside `adapter_dir`, flush them, move them in, then write the
    run record (atomically) last: until it is there, the folder is not a finished run, and no file under its final
    name is ever half-written."""
    import tempfile

    from vidlm.checkpoints import sync_folder

    adapter_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=adapter_dir.parent, prefix=".adapter-"))
    try:
        try:
            model.save_pretrained(staging, safe_serialization=True)
            processor.save_pretrained(staging)
            sync_folder(staging)
        except Exception as error:
            if _disk_full(error, staging):
                raise OSError(errno.ENOSPC, f"No space left on the device while saving the adapter to {adapter_dir}; "
                              "free some space and run again with resume='auto' (it goes on from the newest "
                              "complete checkpoint)") from error
            raise
        (adapter_dir / "run.json").unlink(missing_ok=True)
        adapter_dir.mkdir(exist_ok=True)
        for path in sorted(staging.iterdir()):
            if path.is_dir():
                shutil.rmtree(adapter_dir / path.name, ignore_errors=True)
            os.replace(path, adapter_dir / path.name)
        write_record()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _disk_full(error: BaseException, path) -> bool:
    """Whether `error`, raised while writing under `path`, comes from a full disk. torch.save reports it only as
    "unexpected pos …", so a write failure with (almost) no space left counts too."""
    seen = error
    while seen is not None:
        if getattr(seen, "errno", None) == errno.ENOSPC or "No space left" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free < 2**20


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or cut short by a kill
        return {}


class _PrintLoss(TrainerCallback):
    """One printed line per logging step: step, loss, learning rate, elapsed time."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            print(f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                  f"lr {logs.get('learning_rate', 0):.2e}  {time.perf_counter() - self.start:.0f} s", flush=True)


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
