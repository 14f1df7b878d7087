"""One writer per training output: a second run into a folder in use is refused, and so is one with other settings."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidlm.data.samples import read_captions_csv
from vidlm.train import FinetuneConfig, finetune

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "helpers" / "finetune_worker.py"
SETTINGS = dict(num_frames=4, lora_r=16, lora_alpha=32, lora_dropout=0.0, train_projector=True, learning_rate=2e-3,
                projector_learning_rate=1e-2, batch_size=8, gradient_accumulation_steps=1, warmup_steps=1,
                gradient_checkpointing=False, logging_steps=1, seed=0, cache_features=True)


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    from vidlm.runtime.run_lock import RunLock, RunLockedError

    with RunLock(tmp_path):
        with pytest.raises(RunLockedError) as refused:
            with RunLock(tmp_path):
                pass
        message = str(refused.value)
        assert str(tmp_path) in message and f"pid {os.getpid()}" in message and socket.gethostname() in message
        assert "since 20" in message  # the holder's start time (UTC, ISO format)
    with RunLock(tmp_path):  # released on exit: the next run may go
        pass


def test_a_forked_child_does_not_keep_the_lock_after_its_parent_is_gone(tmp_path):
    """Data loader workers are forked: they must not keep the folder locked once the run that started them dies."""
    from vidlm.runtime.run_lock import RunLock

    script = (f"import os, sys, time\nfrom vidlm.runtime.run_lock import RunLock\nlock = RunLock({str(tmp_path)!r})\n"
              "lock.__enter__()\npid = os.fork()\nif pid == 0:\n"
              "    null = os.open(os.devnull, os.O_WRONLY)\n    os.dup2(null, 1)\n    os.dup2(null, 2)\n"
              "    time.sleep(30)\n    os._exit(0)\n"
              "print(pid, flush=True)\nos.kill(os.getpid(), 9)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = int(run.stdout.split()[0])
    try:
        with RunLock(tmp_path):  # the parent was killed; its sleeping child is still alive
            os.kill(child, 0)
    finally:
        os.kill(child, 9)


@pytest.mark.slow
def test_two_concurrent_finetunes_into_one_folder_one_is_refused(tiny_checkpoints, synthetic_data, tmp_path):
    out, gate = tmp_path / "run", tmp_path / "gate"
    request = dict(model=tiny_checkpoints["llava-next-video"], csv=str(synthetic_data["train"]), out=str(out),
                   max_steps=3, settings={**SETTINGS, "resume": "auto"})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    first, second = workers
    try:
        first.stdin.write(json.dumps({**request, "gate": str(gate)}) + "\n")  # waits after step 1 for the gate
        first.stdin.flush()
        deadline = time.monotonic() + 120
        while "pid" not in _read(out / ".vidlm-run.lock") and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = _read(out / ".vidlm-run.lock")
        second.stdin.write(json.dumps(request) + "\n")  # the same run started again while the first trains
        second.stdin.flush()
        refused = json.loads(second.stdout.readline())
        gate.touch()
        finished = json.loads(first.stdout.readline())
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=60)
    assert refused["code"] == 1 and refused["steps"] == []
    pid = json.loads(holder)["pid"]
    assert f"{out} is in use by another run (pid {pid} on {socket.gethostname()}" in refused["stderr"]
    assert finished["code"] == 0 and finished["steps"] == [1, 2, 3], finished["stderr"]
    record = json.loads((out / "adapter" / "run.json").read_text())
    assert [h["step"] for h in record["log_history"] if "loss" in h] == [1, 2, 3] and record["resumed_from"] is None


def _read(path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def test_other_settings_into_a_used_folder_are_refused_unless_asked(tiny_checkpoints, synthetic_data, tmp_path):
    samples = read_captions_csv(synthetic_data["train"])

    def config(**extra):
        return FinetuneConfig(model=tiny_checkpoints["llava-next-video"], output_dir=str(tmp_path),
                              **{**SETTINGS, "max_steps": 2, "save_every_steps": 1, "resume": "auto", **extra})

    finetune(config(), samples, verbose=False)
    with pytest.raises(ValueError, match=r"holds a run with other settings \(lora_r: 16 → 8\).*overwrite=True"):
        finetune(config(lora_r=8), samples, verbose=False)
    with pytest.raises(ValueError, match=r"other settings \(learning_rate: 0.002 → 0.001\)"):
        finetune(config(learning_rate=1e-3, resume=False), samples, verbose=False)
    with pytest.raises(ValueError, match=r"other settings \(training samples: 32 clips .* → 16 clips"):
        finetune(config(), samples[:16], verbose=False)
    assert json.loads((tmp_path / "adapter" / "run.json").read_text())["config"]["lora_r"] == 16  # untouched

    replaced = finetune(config(lora_r=8, overwrite=True), samples, verbose=False)
    record = json.loads(replaced.record_path.read_text())
    assert record["config"]["lora_r"] == 8 and record["resumed_from"] is None
    assert [h["step"] for h in record["log_history"] if "loss" in h] == [1, 2]
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 8

    # Asked to continue from a named checkpoint with another learning rate: allowed, that is what was asked.
    continued = finetune(config(lora_r=8, learning_rate=1e-3, max_steps=3,
                                resume=str(tmp_path / "checkpoints" / "checkpoint-2")), samples, verbose=False)
    assert [h["step"] for h in continued.log_history if "loss" in h] == [1, 2, 3]
