"""apply_lora uses the current transformers/peft API: no deprecation warnings, checkpointing really on."""

import warnings

import pytest

from vidlm.lora import LoraSettings, apply_lora
from vidlm.models import load_model


@pytest.mark.parametrize("quantization", ["4bit", "none"])
def test_apply_lora_with_checkpointing_warns_of_nothing_deprecated(tiny_checkpoints, quantization):
    model = load_model(tiny_checkpoints["llava-next-video"], quantization=quantization)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = apply_lora(model, LoraSettings(r=4, gradient_checkpointing=True), verbose=False)
    assert [str(w.message) for w in caught if "deprecated" in str(w.message)] == []
    base = model.base_model.model
    assert base.is_activation_checkpointing
    layers = base.model.language_model.layers
    assert all(layer.gradient_checkpointing for layer in layers)
