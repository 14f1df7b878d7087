"""vidlm.estimate_memory: the weight, LoRA, gradient and optimizer parts equal the bytes of real tiny models as vidlm
loads and wraps them (bitsandbytes on CPU, peft, torch AdamW); the advice fits; the import stays cheap."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers.models_fixtures import FAMILIES, random_frames
from vidlm.memory import estimate_memory, quantized_weight_bytes


def tensor_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        if t is None or t.untyped_storage().data_ptr() in seen:
            continue
        seen.add(t.untyped_storage().data_ptr())
        total += t.untyped_storage().nbytes()
    return total


def weight_bytes(model) -> int:
    """Every byte the model's weights hold: parameters, plus bitsandbytes' quantization state beside them."""
    import bitsandbytes as bnb

    tensors = [p for n, p in model.named_parameters() if "lora_" not in n]
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            state = module.weight.quant_state
            tensors += [state.absmax, state.code, state.offset, state.state2.absmax, state.state2.code]
        elif isinstance(module, bnb.nn.Linear8bitLt):
            tensors += [module.weight.SCB, module.weight.CB]
    return tensor_bytes(tensors)


def load_and_wrap(path, quantization, dtype=None, **lora):
    import torch

    from vidlm.lora import LoraSettings, apply_lora
    from vidlm.models import load_model

    torch.set_num_threads(1)
    model = load_model(path, quantization=quantization, dtype=dtype)
    return apply_lora(model, LoraSettings(**lora), verbose=False)


@pytest.mark.parametrize("family", FAMILIES)
def test_4bit_weights_lora_gradients_and_adamw_state_are_exact(tiny_checkpoints, family):
    import torch

    # bfloat16 as on a GPU: peft's k-bit preparation then casts every unquantized weight to float32, which the
    # estimate must count.
    model = load_and_wrap(tiny_checkpoints[family], "4bit", dtype=torch.bfloat16, r=8)
    estimate = estimate_memory(tiny_checkpoints[family], num_frames=4, quantization="4bit", lora_r=8)
    parts = dict((name, size) for name, size, _ in estimate.rows)
    assert parts["weights, quantized"] == weight_bytes(model)

    trainable = [p for p in model.parameters() if p.requires_grad]
    assert parts["LoRA + trained parameters"] == tensor_bytes(trainable)
    assert f"{sum(p.numel() for p in trainable):,} parameters" in dict(
        (name, note) for name, _, note in estimate.rows)["LoRA + trained parameters"]

    for p in trainable:  # gradients of every trainable parameter, then one AdamW step fills its state
        p.grad = torch.ones_like(p)
    assert parts["gradients"] == tensor_bytes(p.grad for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    optimizer.step()
    states = [t for s in optimizer.state.values() for k, t in s.items() if k != "step"]  # step: a CPU scalar
    assert parts["AdamW state"] == tensor_bytes(states)


def test_8bit_weights_are_exact(tiny_checkpoints):
    model = load_and_wrap(tiny_checkpoints["llava-next-video"], "8bit", r=4)
    estimate = estimate_memory(tiny_checkpoints["llava-next-video"], quantization="8bit", lora_r=4, dtype="float32")
    parts = dict((name, size) for name, size, _ in estimate.rows)
    assert parts["weights, quantized"] == weight_bytes(model)
    assert parts["LoRA + trained parameters"] == tensor_bytes(p for p in model.parameters() if p.requires_grad)


def test_full_precision_lora_with_a_trained_projector_is_exact(tiny_checkpoints):
    model = load_and_wrap(tiny_checkpoints["video-llava"], "none", r=16, train_projector=True)
    estimate = estimate_memory(tiny_checkpoints["video-llava"], quantization="none", lora_r=16,
                               train_projector=True, dtype="float32")
    parts = dict((name, size) for name, size, _ in estimate.rows)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert any("modules_to_save" in n for n, p in model.named_parameters() if p.requires_grad)
    assert parts["LoRA + trained parameters"] == tensor_bytes(trainable)
    frozen = [p for n, p in model.named_parameters() if not p.requires_grad]
    assert parts["weights"] == tensor_bytes(frozen)


def test_nf4_bytes_formula_matches_bitsandbytes_for_odd_shapes():
    import bitsandbytes as bnb
    import torch

    for out_features, in_features in ((96, 80), (257, 64), (4096, 11008)):
        weight = bnb.nn.Params4bit(torch.randn(out_features, in_features), requires_grad=False,
                                   compress_statistics=True, quant_type="nf4").to("cpu")
        state = weight.quant_state
        held = tensor_bytes([weight, state.absmax, state.code, state.offset, state.state2.absmax, state.state2.code])
        assert quantized_weight_bytes(out_features, in_features, "4bit") == held


@pytest.mark.parametrize("family", FAMILIES)
def test_visual_token_count_equals_the_processors_expansion(tiny_checkpoints, family):
    from vidlm.families import get_family
    from vidlm.memory import count_visual_tokens
    from vidlm.models import load_config, load_processor

    processor = load_processor(tiny_checkpoints[family])
    config = load_config(tiny_checkpoints[family])
    token = processor.tokenizer.convert_tokens_to_ids("<video>")
    for frames in (2, 4):
        inputs = processor(text=[f"USER: {get_family(family).video_placeholder}hi ASSISTANT:"],
                           videos=[random_frames(0, frames)], return_tensors="np")
        assert count_visual_tokens(config, frames) == int(np.sum(inputs["input_ids"] == token))


def test_advice_when_it_does_not_fit_and_each_advised_change_fits():
    sys.path.insert(0, "benchmarks")
    import bench_train

    config = bench_train.ARCHITECTURES["llava-next-video-7b"].config(False)
    estimate = estimate_memory(config, num_frames=32, gradient_checkpointing=False, gpu_gib=16)
    assert not estimate.fits and estimate.total > 16 * 2**30
    assert any(r.startswith("gradient_checkpointing=True") for r in estimate.recommendations)
    for advice in estimate.recommendations:
        assert float(advice.rsplit(": ", 1)[1].split()[0]) <= 16
    shown = estimate.table()
    assert "Does not fit" in shown and "gradient_checkpointing=True" in shown
    on = estimate_memory(config, num_frames=32, gradient_checkpointing=True, gpu_gib=80)
    assert on.fits and not on.recommendations and "Does not fit" not in on.table()
    # The language model's NF4 weights: 32 layers × (4 × 4096² + 3 × 4096 × 11008) elements at ~0.52 byte each.
    quantized = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert 0.5 * quantized < on.rows[0][1] - 4 * (7_063_431_168 - quantized) < 0.53 * quantized


def test_a_pixel_budget_is_advised_for_dynamic_resolution_families():
    sys.path.insert(0, "benchmarks")
    import bench_train

    config = bench_train.ARCHITECTURES["qwen2.5-vl-7b"].config(False)
    estimate = estimate_memory(config, num_frames=64, frame_size=896, gpu_gib=24)
    assert not estimate.fits
    assert any("pixel budget" in r for r in estimate.recommendations), estimate.recommendations


def test_import_vidlm_stays_cheap():
    code = ("import json, sys, vidlm; print(json.dumps([callable(vidlm.estimate_memory)] + "
            "[m for m in ('torch', 'transformers') if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [True]


def test_finetune_prints_the_estimate_and_warns_before_loading_weights(tiny_checkpoints, monkeypatch, capsys,
                                                                      tmp_path):
    import vidlm.memory
    import vidlm.models
    from vidlm.data.samples import Sample
    from vidlm.train import FinetuneConfig, finetune

    def no_loading(*args, **kwargs):
        raise RuntimeError("weights were about to load")

    monkeypatch.setattr(vidlm.models, "load_model", no_loading)
    monkeypatch.setattr(vidlm.memory, "visible_gpu_gib", lambda: 0.25)  # a GPU far too small
    config = FinetuneConfig(model=tiny_checkpoints["video-llava"], num_frames=4, max_steps=1,
                            output_dir=str(tmp_path / "run"))
    with pytest.warns(ResourceWarning, match="exceeds this GPU's memory"), pytest.raises(RuntimeError, match="about"):
        finetune(config, [Sample(id="a", video="a.mp4", answer="a red square")], verbose=True)
    shown = capsys.readouterr().out
    assert "Estimated GPU memory (video_llava, 4bit, 4 frames, batch 1" in shown and "of 0.2 GiB" in shown
