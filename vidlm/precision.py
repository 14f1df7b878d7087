"""Which floating-point types a run uses, from the GPU it has: one choice, made here, for loading and training.

- GPUs with native bfloat16 (compute capability 8.0+: A100, L4, H100, RTX 30xx/40xx): weights and 4-bit compute in
  bfloat16, the Trainer's bf16 autocast, no loss scaling (bfloat16 has float32's exponent range).
- GPUs without it (T4 — what free Colab gives —, V100, P100): float16, the Trainer's fp16 autocast with dynamic loss
  scaling (torch's GradScaler, which the Trainer creates for `fp16=True`): float16's 5 exponent bits flush small
  gradients to zero unless the loss is scaled up first. The GradScaler refuses float16 gradients, so every trainable
  parameter (LoRA, a trained projector) is kept in float32; only the frozen weights are float16.
- CPU: float32, no autocast.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    dtype: str  # "bfloat16", "float16" or "float32": weights and 4-bit compute
    bf16: bool  # the Trainer's bf16 autocast
    fp16: bool  # the Trainer's fp16 autocast + loss scaling

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def trainer_args(self) -> dict:
        """The TrainingArguments fields this precision sets."""
        return {"bf16": self.bf16, "fp16": self.fp16}


def precision_for(cuda: bool, bf16_supported: bool) -> Precision:
    """The precision for a machine with (or without) a CUDA GPU that does (or does not) support bfloat16."""
    if not cuda:
        return Precision("float32", bf16=False, fp16=False)
    if bf16_supported:
        return Precision("bfloat16", bf16=True, fp16=False)
    return Precision("float16", bf16=False, fp16=True)


def this_machine() -> Precision:
    """The precision for this process's GPU (the first visible one), or for the CPU."""
    import torch

    cuda = torch.cuda.is_available()
    # Native bfloat16 only: torch's default also says yes for a T4, which can emulate it (slowly, and not in every
    # kernel), and there float16 is the right choice.
    return precision_for(cuda, cuda and torch.cuda.is_bf16_supported(including_emulation=False))


def of_dtype(dtype) -> Precision:
    """The precision a model loaded in `dtype` trains with (a user may load float16 weights on a bf16 GPU)."""
    name = str(dtype).removeprefix("torch.")
    if name not in ("bfloat16", "float16", "float32"):
        raise ValueError(f"Cannot train with weights in {dtype}; use bfloat16, float16 or float32")
    return Precision(name, bf16=name == "bfloat16", fp16=name == "float16")


def trainable_in_float32(model, precision: Precision) -> int:
    """Under fp16 loss scaling, cast every trainable parameter that is not float32 to float32 (the GradScaler cannot
    unscale float16 gradients); returns how many were cast. Other precisions leave the model as it is."""
    import torch

    if not precision.fp16:
        return 0
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast
