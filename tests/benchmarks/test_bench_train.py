"""benchmarks/bench_train.py runs (--dry-run: tiny configs on CPU) and builds what it claims to measure."""

import importlib.util
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("bench_train", Path(__file__).parents[2] / "benchmarks" /
                                              "bench_train.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_train"] = bench  # its dataclasses resolve their module by name
spec.loader.exec_module(bench)


def test_the_7b_configs_have_the_hub_shapes():
    from vidlm.memory import count_visual_tokens

    for family, per_frame in (("llava-next-video", 144), ("video-llava", 257)):
        config = bench.model_config(family, tiny=False)
        text = config.text_config
        assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.intermediate_size,
                text.vocab_size) == (4096, 32, 32, 11008, 32064)
        assert count_visual_tokens(config, 8) == 8 * per_frame


@pytest.mark.parametrize("name", sorted(bench.ARCHITECTURES))
def test_each_architecture_has_its_reference_checkpoints_parameter_count(name):
    import torch

    model = bench.build_empty(name)
    assert next(model.parameters()).device == torch.device("meta")  # built without memory
    built = bench.count_parameters(model)
    assert abs(built / bench.ARCHITECTURES[name].reference_params - 1) < 0.01, built


def test_small_and_7b_class_sizes_of_every_family_are_listed():
    ids = {a.hub_id for a in bench.ARCHITECTURES.values()}
    assert {"llava-hf/LLaVA-NeXT-Video-7B-hf", "LanguageBind/Video-LLaVA-7B-hf", "Qwen/Qwen2.5-VL-3B-Instruct",
            "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-8B-Instruct",
            "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf",
            "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
            "OpenGVLab/InternVL3-1B-hf", "OpenGVLab/InternVL3-2B-hf", "OpenGVLab/InternVL3-8B-hf"} <= ids
    assert all(bench.ARCHITECTURES[n] for n in bench.SEVEN_B)


def test_real_size_visual_tokens_per_clip():
    # What each family's processor expands a clip into at these sizes (8 frames).
    expected = {"llava-next-video-7b": 8 * 144, "video-llava-7b": 8 * 257,
                "qwen2.5-vl-7b": 4 * 16 * 16,  # 448 px / patch 14 = 32, merged 2x2, frames in temporal pairs
                "qwen3-vl-8b": 4 * 14 * 14,  # 448 px / patch 16 = 28, merged 2x2
                "llava-onevision-7b": 8 * 14 * 14 + 1,  # 27x27 patches pooled to 14x14, one newline after the clip
                "smolvlm2-256m": 8 * 64, "smolvlm2-2.2b": 8 * 81, "internvl3-8b": 8 * 256}
    for name, tokens in expected.items():
        arch = bench.ARCHITECTURES[name]
        assert bench.visual_tokens(arch, arch.config(False), 8) == tokens, name


@pytest.mark.parametrize("name", ["qwen2.5-vl-3b", "qwen3-vl-2b", "llava-onevision-0.5b", "smolvlm2-256m",
                                  "internvl3-1b"])
def test_tiny_qlora_step_of_each_new_family_runs_with_its_visual_inputs(name):
    import bitsandbytes as bnb
    import torch

    torch.set_num_threads(1)
    model = bench.build(name, "4bit", gradient_checkpointing=True, tiny=True, device="cpu")
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all("language_model" in n or "text_model" in n for n in quantized)
    inputs, length = bench.batch(model, name, 4, "cpu")
    assert inputs["input_ids"].shape == (1, length)
    # The forward checks that the visual features fill exactly the placeholder tokens, else it raises.
    loss = model(**inputs).loss
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_qlora_build_quantizes_the_language_model_only():
    import bitsandbytes as bnb

    model = bench.build("video-llava", "4bit", gradient_checkpointing=True, tiny=True, device="cpu")
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all("language_model" in n for n in quantized)
    assert len(quantized) == 2 * 7  # 2 layers × q, k, v, o, gate, up, down
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_dry_run_prints_counts_and_one_row_per_setting(capsys):
    assert bench.main(["--dry-run", "--family", "llava-next-video", "--frames", "4", "--steps", "1"]) == 0
    shown = capsys.readouterr().out
    assert "| qwen2.5-vl-7b | Qwen/Qwen2.5-VL-7B-Instruct | 8,292,166,656 |" in shown
    rows = [line for line in shown.splitlines()
            if line.startswith(("| llava-next-video-7b | QLoRA |", "| llava-next-video-7b | bf16 LoRA |"))]
    assert len(rows) == 4  # QLoRA and bf16 LoRA × checkpointing on and off
    assert "| llava-next-video-7b | QLoRA | 4 | 1 | 129 | on | n/a (CPU) |" in shown  # 1 + 4 frames × 16 + 64
    assert all(float(r.split("|")[8]) > 0 for r in rows)


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", Path(__file__).parents[2] / "benchmarks" /
                                                  "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_script_dry_run_measures_every_row_and_compares_with_the_estimate(tmp_path):
    out = tmp_path / "gpu.md"
    assert _bench_gpu().main(["--dry-run", "--output", str(out)]) == 0
    shown = out.read_text()
    train = [line.split(" | ") for line in shown.splitlines() if line.startswith("| ") and " QLoRA " in line
             or "HF tutorial recipe" in line]
    assert [(r[0][2:], r[2], r[3], r[5]) for r in train] == [
        ("llava-next-video-7b", "4", "1", "on"), ("llava-next-video-7b", "8", "1", "on"),
        ("llava-next-video-7b", "4", "1", "off"), ("llava-next-video-7b", "8", "1", "off"),
        ("llava-next-video-7b", "4", "4", "off"), ("video-llava-7b", "4", "1", "on"), ("qwen2.5-vl-7b", "4", "1", "on"),
        ("qwen3-vl-8b", "4", "1", "on"), ("llava-onevision-7b", "4", "1", "on"), ("internvl3-8b", "4", "1", "on")]
    assert all(float(r[7]) > 0 and float(r[9].rstrip(" |")) > 0 for r in train)  # an estimate and a speed each
    captions = [line.split(" | ") for line in shown.splitlines() if "per generate" in line]
    assert len(captions) == 2 and all(float(r[4].rstrip(" |")) > 0 for r in captions)
    assert "Dry run: tiny configs on the CPU" in shown


def test_gpu_script_starts_no_row_after_its_deadline_and_says_what_it_skipped(tmp_path):
    out = tmp_path / "gpu.md"
    assert _bench_gpu().main(["--dry-run", "--output", str(out), "--deadline", "-1"]) == 0
    shown = out.read_text()
    assert "Not measured (deadline of -1 s): llava-next-video-7b 4 frames batch 1;" in shown
    assert shown.rstrip().endswith("captioning") and " QLoRA " not in shown
