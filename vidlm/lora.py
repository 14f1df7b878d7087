"""LoRA / QLoRA on a loaded model: k-bit preparation, adapters on the language model, a trainable summary.

Default: LoRA on every linear layer of the language model (attention and MLP), the vision tower frozen, the
projector frozen — or trained in full with `train_projector=True` (saved with the adapter as `modules_to_save`).
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from vidlm.families import Family, get_family


@dataclass
class LoraSettings:
    """LoRA hyper-parameters; `target_modules=None` means the family's language-model linears."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str | list[str] | None = None
    train_projector: bool = False
    gradient_checkpointing: bool = True


def is_quantized(model) -> bool:
    return bool(getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False))


def apply_lora(model, settings: LoraSettings | None = None, family: str | Family | None = None, verbose=True):
    """Wrap `model` in a peft `PeftModel` with fresh LoRA adapters; prints what is trainable when `verbose`."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    settings = settings or LoraSettings()
    fam = _family(model, family)
    if is_quantized(model):
        # Checkpointing is switched on below: peft 0.21 would call transformers' deprecated gradient_checkpointing_enable.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if settings.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if not is_quantized(model):
            model.enable_input_require_grads()
    config = LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=settings.target_modules or fam.lora_target_modules,
        modules_to_save=[fam.projector.rsplit(".", 1)[-1]] if settings.train_projector else None,
    )
    with peft_quietly():
        model = get_peft_model(model, config)
    if verbose:
        print(trainable_summary(model, fam))
    return model


@contextmanager
def peft_quietly():
    """Around peft's wrapping of a model: peft 0.21 itself reads `is_gradient_checkpointing`, deprecated in
    transformers 5.x, so every PeftModel warns of a call no user made. Only that warning is dropped."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _family(model, family) -> Family:
    """The family given (object or name), else the one the model's config names (its `model_type`)."""
    if isinstance(family, Family):
        return family
    if family is None:
        from vidlm.families import family_of

        return family_of(model.config)
    return get_family(family)


def trainable_summary(model, family: Family | None = None) -> str:
    """A small table: trainable and total parameters per part (vision, projector, language model, LoRA)."""
    fam = family or _family(model, None)
    groups: dict[str, list[int]] = {}
    for name, param in model.named_parameters():
        part = _part(name, fam)
        total, trainable = groups.setdefault(part, [0, 0])
        count = _count(param)
        groups[part] = [total + count, trainable + (count if param.requires_grad else 0)]
    all_total = sum(t for t, _ in groups.values())
    all_train = sum(t for _, t in groups.values())
    lines = [f"{'part':<16}{'trainable':>14}{'total':>14}"]
    lines += [f"{part:<16}{train:>14,}{total:>14,}" for part, (total, train) in sorted(groups.items())]
    lines.append(f"{'all':<16}{all_train:>14,}{all_total:>14,}  ({100 * all_train / max(all_total, 1):.2f}% trainable)")
    return "\n".join(lines)


def _count(param) -> int:
    """Weights in a parameter; a 4-bit one stores two per byte, so count from its original shape."""
    state = getattr(param, "quant_state", None)
    return int(math.prod(state.shape)) if state is not None else param.numel()


def _part(name: str, fam: Family) -> str:
    if "lora_" in name:
        return "lora"
    if fam.projector.split(".")[-1] in name:  # first: Qwen's projector (`visual.merger`) sits inside its tower
        return "projector"
    if any(v.split(".")[-1] in name for v in fam.vision_modules):
        return "vision"
    return "language model"
