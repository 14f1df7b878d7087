import json

import pytest
import torch
from transformers import TrainerCallback

from vidlm.collate import TrainCollator
from vidlm.data.samples import VideoTextDataset, read_captions_csv
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
    assert after < 0.6 * before, (before, after)  # measured 0.070-0.074 x for seeds 0-4, on 1 and 2 threads
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
    from helpers.models_fixtures import TRAIN_SETTINGS

    samples = read_captions_csv(synthetic_data["train"])[:16]
    runs = []
    for name in ("a", "b"):
        config = FinetuneConfig(model=tiny_checkpoints["video-llava"], output_dir=str(tmp_path / name),
                                max_steps=6, **{**TRAIN_SETTINGS, "logging_steps": 1})
        runs.append([h["loss"] for h in finetune(config, samples, verbose=False).log_history if "loss" in h])
    assert len(runs[0]) == 6 and runs[0] == runs[1]


@pytest.mark.parametrize("quantization", ["4bit", "none"])
def test_gradient_checkpointing_trains_the_same_adapters(tiny_checkpoints, synthetic_data, quantization):
    """Three optimizer steps with activations recomputed in backward end with the adapters (A and B of every LoRA
    layer) of the same steps without checkpointing, within 1e-6 (0.0 on this machine); dropout included, its masks
    replayed in the recompute. Seeds that differ between the two runs give differences of ~0.2."""
    from helpers.models_fixtures import random_frames
    from vidlm.collate import encode
    from vidlm.prompts import format_prompt

    path = tiny_checkpoints["llava-next-video"]
    processor = load_processor(path)
    prompt = format_prompt("llava-next-video", "Describe the video.", "a red circle moves left", processor=processor)
    batch = TrainCollator(processor.tokenizer.pad_token_id)([encode(processor, prompt, random_frames(0))])
    adapters = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = apply_lora(load_model(path, quantization=quantization),
                           LoraSettings(r=4, dropout=0.1, gradient_checkpointing=checkpointing), verbose=False)
        assert model.base_model.model.is_gradient_checkpointing == checkpointing
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(3):
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        adapters[checkpointing] = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    plain, recomputed = adapters[False], adapters[True]
    assert plain.keys() == recomputed.keys() and any("lora_B" in n for n in plain)
    assert all(plain[n].abs().sum() > 0 for n in plain if "lora_B" in n)  # B starts at zero: the steps moved it
    worst = max((plain[n] - recomputed[n]).abs().max().item() for n in plain)
    assert worst <= 1e-6, worst


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


class _StopAt(TrainerCallback):
    """Stops training after optimizer step `step`, as a crash or a lost Colab session would (the checkpoint of that
    step is written first: the Trainer saves after on_step_end, before it leaves the loop)."""

    def __init__(self, step: int | None = None):
        self.step, self.steps_run = step, []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps_run.append(state.global_step)
        if state.global_step == self.step:
            control.should_training_stop = True


def _adapter_weights(adapter_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def test_an_interrupted_run_resumes_to_the_same_adapter(tiny_checkpoints, synthetic_data, tmp_path):
    """8 steps straight vs 3 steps, stop, resume to 8: same weights and the loss log carries on where it stopped.

    16 clips in batches of 4 make 4 steps per epoch, so the stop falls mid-epoch (the data order must be replayed)
    and LoRA dropout 0.1 draws random masks (the RNG state must be restored too).
    """
    from helpers.models_fixtures import TRAIN_SETTINGS

    samples = read_captions_csv(synthetic_data["train"])[:16]
    settings = {**TRAIN_SETTINGS, "batch_size": 4, "lora_dropout": 0.1, "logging_steps": 1, "warmup_steps": 2}

    def config(name, **extra):
        return FinetuneConfig(model=tiny_checkpoints["llava-next-video"], output_dir=str(tmp_path / name),
                              max_steps=8, save_every_steps=3, **settings, **extra)

    straight = finetune(config("straight"), samples, verbose=False)
    stopped = finetune(config("resumed", resume="auto"), samples, callbacks=[_StopAt(3)], verbose=False)
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-3"] and stopped.log_history[-1]["step"] == 3
    stopped_weights = _adapter_weights(stopped.adapter_dir)
    counter = _StopAt()
    resumed = finetune(config("resumed", resume="auto"), samples, callbacks=[counter], verbose=False)
    assert counter.steps_run == [4, 5, 6, 7, 8]  # it went on from step 3, not from scratch

    losses = [[(h["step"], h["loss"]) for h in r.log_history if "loss" in h] for r in (straight, resumed)]
    assert [s for s, _ in losses[1]] == list(range(1, 9))  # steps 1–3 come from the checkpoint's log
    assert torch.allclose(torch.tensor([l for _, l in losses[1]]), torch.tensor([l for _, l in losses[0]]),
                          rtol=0, atol=1e-6), losses
    a, b = _adapter_weights(straight.adapter_dir), _adapter_weights(resumed.adapter_dir)
    assert a.keys() == b.keys() and any("multi_modal_projector" in k for k in a)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= 1e-6, worst
    print(f"resume: max |straight - resumed| = {worst:.2e}")
    assert max((a[k] - stopped_weights[k]).abs().max().item() for k in a) > 1e-3  # steps 4–8 did change them
    assert json.loads((resumed.adapter_dir / "run.json").read_text())["resumed_from"].endswith("checkpoint-3")


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(tiny_checkpoints, synthetic_data, tmp_path):
    """torchrun, 2 CPU processes (gloo DDP, QLoRA base) × batch 4 vs one process × batch 8: the same 8 clips per
    step (accelerate shards one seeded permutation), gradients averaged → the same adapter, to float rounding."""
    import os
    import socket
    import subprocess
    import sys

    from helpers.models_fixtures import TRAIN_SETTINGS

    settings = {**TRAIN_SETTINGS, "logging_steps": 1, "max_steps": 6}  # 4 steps per epoch: crosses an epoch
    single = finetune(FinetuneConfig(model=tiny_checkpoints["llava-next-video"], output_dir=str(tmp_path / "one"),
                                     **settings), read_captions_csv(synthetic_data["train"]), verbose=False)
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = []  # the config's field names as flags: --lora_r 16, --train_projector, --no-gradient_checkpointing
    for k, v in {**settings, "batch_size": 4, "output_dir": str(tmp_path / "two"),
                 "model": tiny_checkpoints["llava-next-video"]}.items():
        flags += [f"--{k}" if v else f"--no-{k}"] if isinstance(v, bool) else [f"--{k}", str(v)]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               "-m", "vidlm.cli", "finetune", str(synthetic_data["train"]), *flags]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "two" / "adapter" / "run.json").read_text())
    assert record["world_size"] == 2 and record["config"]["batch_size"] == 4
    two = [h["loss"] for h in record["log_history"] if "loss" in h]
    one = [h["loss"] for h in single.log_history if "loss" in h]
    assert len(two) == 6 and torch.allclose(torch.tensor(two), torch.tensor(one), rtol=1e-5, atol=0), (one, two)
    a, b = _adapter_weights(single.adapter_dir), _adapter_weights(tmp_path / "two" / "adapter")
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert a.keys() == b.keys() and worst < 1e-5, worst  # weights are ~0.1: 1e-5 is float32 reduction-order noise
    print(f"DDP: max |1 process - 2 processes| = {worst:.2e}; losses {one} vs {two}")


def test_a_token_in_the_config_is_in_no_file_the_run_writes(tiny_checkpoints, synthetic_data, tmp_path):
    """run.json files get shared: a hub token (or any password/secret/key setting) is redacted as it is written, and
    the Trainer's own training_args.bin in every checkpoint must not carry it either."""
    from helpers.models_fixtures import TRAIN_SETTINGS

    token = "hf_SECRETsecretTOKEN1234"
    config = FinetuneConfig(model=tiny_checkpoints["video-llava"], output_dir=str(tmp_path), max_steps=2,
                            save_every_steps=1, **{**TRAIN_SETTINGS, "logging_steps": 1},
                            extra_training_args={"hub_token": token, "report_to": "none"})
    result = finetune(config, read_captions_csv(synthetic_data["train"])[:8], verbose=False)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 15 and any(p.name == "training_args.bin" for p in files)
    assert [p for p in files if token.encode() in p.read_bytes()] == []
    record = json.loads(result.record_path.read_text())
    assert record["config"]["extra_training_args"] == {"hub_token": "<redacted>", "report_to": "none"}


def test_run_records_redact_secret_like_keys_at_any_depth(tmp_path):
    from vidlm.runtime.runinfo import write_run_record

    path = write_run_record(tmp_path / "run.json", {"extra_training_args": {"hub_token": "t1", "HF_TOKEN": "t2"}},
                            connection={"password": "p", "api_key": "k", "aws_secret_access_key": "s", "apiKey": "c"},
                            eval_max_new_tokens=32, keyframes=[1, 2], tokens=7, max_length=None,
                            settings={"key": "objects", "private_key": "pk", "api_key_env": "OPENAI_API_KEY"})
    text = path.read_text()
    assert not any(secret in text for secret in ('"t1"', '"t2"', '"p"', '"k"', '"s"', '"c"', '"pk"'))
    record = json.loads(text)
    assert record["connection"] == {k: "<redacted>" for k in ("password", "api_key", "aws_secret_access_key", "apiKey")}
    assert record["eval_max_new_tokens"] == 32 and record["keyframes"] == [1, 2] and record["tokens"] == 7
    # a bare "key" is a choice (vidlm tag --key), and a name ending in env names the variable, not the secret
    assert record["settings"] == {"key": "objects", "private_key": "<redacted>", "api_key_env": "OPENAI_API_KEY"}


def test_clips_decoded_in_worker_processes_train_the_same(tiny_checkpoints, synthetic_data, tmp_path):
    from helpers.models_fixtures import TRAIN_SETTINGS

    class Workers(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            used.append(args.dataloader_num_workers)

    samples = read_captions_csv(synthetic_data["train"])[:16]
    used, losses = [], {}
    for workers in (0, 2):
        config = FinetuneConfig(model=tiny_checkpoints["video-llava"], output_dir=str(tmp_path / str(workers)),
                                max_steps=4, num_workers=workers, **{**TRAIN_SETTINGS, "logging_steps": 1})
        result = finetune(config, samples, callbacks=[Workers()], verbose=False)
        losses[workers] = [h["loss"] for h in result.log_history if "loss" in h]
    assert used == [0, 2]
    assert len(losses[0]) == 4 and losses[0] == losses[2]


def test_training_decodes_in_workers_by_default_only_with_a_gpu_and_no_in_memory_cache():
    from vidlm.train import loader_settings

    assert loader_settings(None, cuda=False) == {"dataloader_num_workers": 0}
    with_gpu = loader_settings(None, cuda=True)
    assert 2 <= with_gpu["dataloader_num_workers"] <= 4 and with_gpu["dataloader_persistent_workers"]
    assert loader_settings(3, cuda=False)["dataloader_num_workers"] == 3
    assert loader_settings(0, cuda=True) == {"dataloader_num_workers": 0}
    # Features kept in memory stay in the training process: workers would each cache their own share.
    assert loader_settings(None, cuda=True, in_memory_cache=True) == {"dataloader_num_workers": 0}
