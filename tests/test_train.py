import json

import pytest
import torch

from vidlm.collate import TrainCollator
from vidlm.data import VideoTextDataset, read_captions_csv
from vidlm.families import get_family
from vidlm.lora import LoraSettings, apply_lora
from vidlm.models import load_model, load_processor
from vidlm.train import FinetuneConfig, finetune


def _loss(model, batch) -> float:
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()


def test_a_few_qlora_steps_lower_the_loss(trained, synthetic_data):
    result, config = trained
    processor = load_processor(config.model)
    samples = read_captions_csv(synthetic_data["train"])[:16]
    data = VideoTextDataset(samples, processor, get_family("llava-next-video"), config.num_frames)
    batch = TrainCollator(processor.tokenizer.pad_token_id)([data[i] for i in range(len(data))])
    before = _loss(load_model(config.model, quantization="4bit"), batch)
    after = _loss(result.model, batch)
    assert after < 0.6 * before, (before, after)
    logged = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(logged) >= 3 and logged[-1] < logged[0]


def test_the_adapter_processor_and_run_record_are_saved(trained):
    result, config = trained
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "run.json", "tokenizer.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    adapter = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert adapter["r"] == config.lora_r and adapter["modules_to_save"] == ["multi_modal_projector"]
    record = json.loads((result.adapter_dir / "run.json").read_text())
    assert record["config"]["seed"] == 0 and record["config"]["max_steps"] == 60
    assert record["family"] == "llava-next-video" and record["train_samples"] == 32
    assert record["versions"]["transformers"] and record["versions"]["peft"] and record["versions"]["torch"]
    assert [h["step"] for h in record["log_history"] if "loss" in h][:2] == [5, 10]


def test_lora_sits_on_language_model_linears_only(tiny_checkpoints):
    model = apply_lora(load_model(tiny_checkpoints["video-llava"], quantization="4bit"),
                       LoraSettings(r=4, gradient_checkpointing=False), verbose=False)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    targets = {n.split(".")[-4] for n in trainable if n.endswith("lora_A.default.weight")}
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_training_refuses_samples_that_do_not_fit(tiny_checkpoints, synthetic_data, tmp_path):
    from vidlm.collate import TokenBudgetError

    config = FinetuneConfig(model=tiny_checkpoints["llava-next-video"], output_dir=str(tmp_path), num_frames=4,
                            max_length=40, max_steps=1)
    with pytest.raises(TokenBudgetError, match="do not fit max_length=40"):
        finetune(config, read_captions_csv(synthetic_data["train"]), verbose=False)
    assert not (tmp_path / "adapter").exists()


def test_same_seed_same_training(tiny_checkpoints, synthetic_data, tmp_path):
    from models_fixtures import TRAIN_SETTINGS

    samples = read_captions_csv(synthetic_data["train"])[:16]
    runs = []
    for name in ("a", "b"):
        config = FinetuneConfig(model=tiny_checkpoints["video-llava"], output_dir=str(tmp_path / name),
                                max_steps=6, **{**TRAIN_SETTINGS, "logging_steps": 1})
        runs.append([h["loss"] for h in finetune(config, samples, verbose=False).log_history if "loss" in h])
    assert len(runs[0]) == 6 and runs[0] == runs[1]


@pytest.mark.parametrize("quantization", ["4bit", "none"])
def test_gradient_checkpointing_trains_the_same_adapters(tiny_checkpoints, synthetic_data, quantization):
    """With checkpointing on, activations are recomputed in backward: gradients must reach every LoRA weight."""
    from models_fixtures import random_frames
    from vidlm.collate import encode
    from vidlm.prompts import format_prompt

    path = tiny_checkpoints["llava-next-video"]
    processor = load_processor(path)
    model = apply_lora(load_model(path, quantization=quantization), LoraSettings(r=4, gradient_checkpointing=True),
                       verbose=False)
    assert model.base_model.model.is_gradient_checkpointing
    model.train()
    prompt = format_prompt("llava-next-video", "Describe the video.", "a red circle moves left", processor=processor)
    batch = TrainCollator(processor.tokenizer.pad_token_id)([encode(processor, prompt, random_frames(0))])
    model(**batch).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)


def test_trainable_summary_counts_4bit_weights_like_full_precision(tiny_checkpoints):
    from vidlm.lora import trainable_summary

    path = tiny_checkpoints["llava-next-video"]
    rows = {q: trainable_summary(load_model(path, quantization=q)).splitlines() for q in ("4bit", "none")}
    total = {q: int(r[-1].split()[2].replace(",", "")) for q, r in rows.items()}
    full = sum(p.numel() for p in load_model(path, quantization="none").parameters())
    assert total["4bit"] == total["none"] == full
    summary = trainable_summary(apply_lora(load_model(path, quantization="4bit"),
                                           LoraSettings(r=4, train_projector=True, gradient_checkpointing=False),
                                           verbose=False))
    lines = {line.split()[0]: line.split() for line in summary.splitlines()[1:]}
    assert lines["vision"][1] == "0" and lines["lora"][1] == lines["lora"][2] != "0"
    assert lines["projector"][1] != "0"  # trained in full with train_projector=True
