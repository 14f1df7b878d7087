"""benchmarks/bench_train.py runs (--dry-run: tiny configs on CPU) and builds what it claims to measure."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench_train", Path(__file__).parent.parent / "benchmarks" /
                                              "bench_train.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_the_7b_configs_have_the_hub_shapes():
    from vidlm.families import get_family

    for family, per_frame in (("llava-next-video", 144), ("video-llava", 257)):
        config = bench.model_config(family, tiny=False)
        text = config.text_config
        assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.intermediate_size,
                text.vocab_size) == (4096, 32, 32, 11008, 32064)
        assert get_family(family).tokens_per_frame(config) == per_frame


def test_qlora_build_quantizes_the_language_model_only():
    import bitsandbytes as bnb

    model = bench.build("video-llava", "4bit", gradient_checkpointing=True, tiny=True, device="cpu")
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all("language_model" in n for n in quantized)
    assert len(quantized) == 2 * 7  # 2 layers × q, k, v, o, gate, up, down
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_dry_run_prints_one_row_per_setting(capsys):
    assert bench.main(["--dry-run", "--family", "llava-next-video", "--frames", "4", "--steps", "1"]) == 0
    shown = capsys.readouterr().out
    rows = [line for line in shown.splitlines() if line.startswith("| llava-next-video |")]
    assert len(rows) == 4  # QLoRA and bf16 LoRA × checkpointing on and off
    assert "| llava-next-video | QLoRA | 4 | 128 | on | n/a (CPU) |" in shown  # 4 frames × 16 + 64 text tokens
    assert all(float(r.split("|")[7]) > 0 for r in rows)
