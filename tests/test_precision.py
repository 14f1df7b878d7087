"""Floating-point types per GPU kind: the choice, the Trainer arguments it produces, and an fp16 loss-scaled step."""

from types import SimpleNamespace

import pytest
import torch

from vidlm.collate import TrainCollator, encode
from vidlm.config import FinetuneConfig
from vidlm.lora import LoraSettings, apply_lora
from vidlm.models import compute_dtype, load_model, load_processor
from vidlm.precision import Precision, precision_for, this_machine, trainable_in_float32
from vidlm.train import training_settings

# (compute capability major, GPU) and the precision each should train with
GPUS = [(7, "Tesla T4", "float16"), (7, "Tesla V100", "float16"), (6, "Tesla P100", "float16"),
        (8, "NVIDIA A100", "bfloat16"), (8, "NVIDIA L4", "bfloat16"), (9, "NVIDIA H100", "bfloat16")]


def _pretend_gpu(monkeypatch, major: int, name: str):
    """torch.cuda as it answers on a machine with this GPU; a T4 can create bfloat16 tensors (emulation)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(major=major, name=name))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)


@pytest.mark.parametrize("major,name,expected", GPUS)
def test_each_gpu_kind_gets_its_native_precision(monkeypatch, major, name, expected):
    _pretend_gpu(monkeypatch, major, name)
    assert this_machine().dtype == expected
    assert compute_dtype() == getattr(torch, expected)  # what load_model and the 4-bit compute use


def test_without_a_gpu_everything_is_float32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert this_machine() == Precision("float32", bf16=False, fp16=False)
    assert compute_dtype() == torch.float32


@pytest.mark.parametrize("cuda,bf16,expected", [(True, False, ("float16", False, True)),
                                                (True, True, ("bfloat16", True, False)),
                                                (False, False, ("float32", False, False))])
def test_the_trainer_arguments_each_precision_produces(tmp_path, cuda, bf16, expected):
    from transformers import TrainingArguments

    precision = precision_for(cuda, bf16)
    assert (precision.dtype, precision.bf16, precision.fp16) == expected
    config = FinetuneConfig(model="llava-next-video", output_dir=str(tmp_path), max_steps=2)
    # Built here with use_cpu (this machine has no GPU); the precision fields are what a GPU run passes.
    settings = training_settings(config, tmp_path, precision, cuda=False, verbose=False)
    args = TrainingArguments(**settings)
    assert (args.bf16, args.fp16) == expected[1:]
    assert args.mixed_precision == {"bfloat16": "bf16", "float16": "fp16", "float32": "no"}[expected[0]]


def _fp16_step(model, batch, scaler) -> float:
    """One optimizer step as the Trainer takes it with fp16=True: autocast to float16, the loss scaled up, the
    gradients unscaled (refused if any is float16) and skipped if not finite."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = model(**batch).loss
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


def test_an_fp16_loss_scaled_step_needs_float32_trainables_and_then_trains(tiny_checkpoints):
    """float16 weights (a T4's) with LoRA and the projector trained: the GradScaler refuses the projector's float16
    gradients until `trainable_in_float32` casts the trainable parameters; then the step runs, its loss is finite and
    the adapters move. The frozen weights stay float16."""
    from helpers.models_fixtures import random_frames
    from vidlm.prompts import format_prompt

    path = tiny_checkpoints["llava-next-video"]
    processor = load_processor(path)
    prompt = format_prompt("llava-next-video", "Describe the video.", "a red circle moves left", processor=processor)
    batch = TrainCollator(processor.tokenizer.pad_token_id)([encode(processor, prompt, random_frames(0))])
    batch["pixel_values_videos"] = batch["pixel_values_videos"].half()
    fp16 = precision_for(cuda=True, bf16_supported=False)

    def wrapped():
        torch.manual_seed(0)
        model = load_model(path, quantization="none", dtype=torch.float16)
        return apply_lora(model, LoraSettings(r=4, train_projector=True, gradient_checkpointing=False), verbose=False)

    model = wrapped()
    assert any(p.dtype == torch.float16 for p in model.parameters() if p.requires_grad)  # the projector's copy
    with pytest.raises(ValueError, match="unscale FP16 gradients"):
        _fp16_step(model, batch, torch.amp.GradScaler("cpu"))

    model = wrapped()
    assert trainable_in_float32(model, fp16) > 0
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.float16}
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    loss = _fp16_step(model, batch, scaler)
    assert torch.isfinite(torch.tensor(loss))
    assert scaler.get_scale() == 2.0**10  # no overflow: the step was taken, not skipped
    after = dict(model.named_parameters())
    assert all((after[n] - before[n]).abs().max() > 0 for n in before)


@pytest.mark.parametrize("precision", [precision_for(True, True), precision_for(False, False)])
def test_other_precisions_leave_the_trainables_as_loaded(tiny_checkpoints, precision):
    model = apply_lora(load_model(tiny_checkpoints["llava-next-video"], quantization="none", dtype=torch.bfloat16),
                       LoraSettings(r=4, train_projector=True, gradient_checkpointing=False), verbose=False)
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert trainable_in_float32(model, precision) == 0
    assert {n: p.dtype for n, p in model.named_parameters()} == dtypes
