"""Resume takes only complete checkpoints; a finished run stays finished; kills and a full disk lose nothing."""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import TrainerCallback

from vidlm.data.samples import read_captions_csv
from vidlm.checkpoints import resume_checkpoint
from vidlm.train import FinetuneConfig, finetune

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "helpers" / "finetune_worker.py"
# 16 clips in batches of 4: 4 steps per epoch, so step 5 and 6 fall mid-epoch; dropout draws random masks, so a
# resume must restore data order and RNG state to land on the same weights.
SETTINGS = dict(num_frames=4, lora_r=16, lora_alpha=32, lora_dropout=0.1, train_projector=True, learning_rate=2e-3,
                projector_learning_rate=1e-2, batch_size=4, gradient_accumulation_steps=1, warmup_steps=2,
                gradient_checkpointing=False, logging_steps=1, seed=0, cache_features=True)


class Steps(TrainerCallback):
    """Records the optimizer steps a run took; stops after `stop` (the Trainer saves that step's checkpoint first)."""

    def __init__(self, stop: int | None = None):
        self.stop, self.run = stop, []

    def on_step_end(self, args, state, control, **kwargs):
        self.run.append(state.global_step)
        if state.global_step == self.stop:
            control.should_training_stop = True


def weights(adapter_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def samples(synthetic_data):
    return read_captions_csv(synthetic_data["train"])[:16]


def config(tiny_checkpoints, out, **extra) -> FinetuneConfig:
    return FinetuneConfig(model=tiny_checkpoints["llava-next-video"], output_dir=str(out),
                          **{**SETTINGS, "max_steps": 6, "save_every_steps": 1, "resume": "auto", **extra})


@pytest.fixture(scope="module")
def straight(tiny_checkpoints, samples, tmp_path_factory):
    """Six steps in one go: the adapter every interrupted run must end with."""
    out = tmp_path_factory.mktemp("straight")
    return weights(finetune(config(tiny_checkpoints, out), samples, verbose=False).adapter_dir)


@pytest.fixture(scope="module")
def stopped_at_4(tiny_checkpoints, samples, tmp_path_factory):
    """A run of 6 steps that stopped after step 4: checkpoint-3 and checkpoint-4 on disk (save_total_limit=2)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    finetune(config(tiny_checkpoints, out), samples, callbacks=[Steps(stop=4)], verbose=False)
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-4"]
    return out


def _empty(c):
    shutil.rmtree(c)
    c.mkdir()


def _only_adapter_files(c):
    for p in c.iterdir():
        if not p.name.startswith("adapter_"):
            p.unlink()


def _truncate(name):
    def damage(c):
        size = (c / name).stat().st_size
        os.truncate(c / name, size // 2)
    return damage


TORN = {"empty folder": _empty, "only adapter files": _only_adapter_files,
        "truncated optimizer.pt": _truncate("optimizer.pt"),
        "truncated adapter_model.safetensors": _truncate("adapter_model.safetensors"),
        "missing rng_state.pth": lambda c: (c / "rng_state.pth").unlink()}


@pytest.mark.parametrize("damage", TORN, ids=list(TORN))
def test_a_torn_checkpoint_is_skipped_and_the_run_resumes_from_the_previous_one(damage, stopped_at_4, straight,
                                                                                tiny_checkpoints, samples, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(stopped_at_4, out)
    TORN[damage](out / "checkpoints" / "checkpoint-4")

    torn = r"torn \(incomplete\) checkpoint.*checkpoint-4 \(.*resuming from checkpoint-3"
    with pytest.warns(UserWarning, match=torn):
        assert resume_checkpoint("auto", out / "checkpoints") == str(out / "checkpoints" / "checkpoint-3")
    steps = Steps()
    with pytest.warns(UserWarning, match="checkpoint-4"):
        result = finetune(config(tiny_checkpoints, out), samples, callbacks=[steps], verbose=False)
    assert steps.run == [4, 5, 6]
    record = json.loads(result.record_path.read_text())
    assert record["resumed_from"].endswith("checkpoint-3")
    assert [h["step"] for h in record["log_history"] if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert max_difference(weights(result.adapter_dir), straight) <= 1e-6


def test_resume_auto_starts_afresh_when_no_checkpoint_is_complete(tmp_path):
    assert resume_checkpoint("auto", tmp_path / "nothing-yet") is None
    assert resume_checkpoint(False, tmp_path) is None
    for step in (5, 40, 100):
        (tmp_path / f"checkpoint-{step}").mkdir()  # folders a kill left empty
    with pytest.warns(UserWarning, match="checkpoint-100"):
        assert resume_checkpoint("auto", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="'checkpoint-7' is not a Trainer checkpoint"):
        resume_checkpoint("checkpoint-7", tmp_path)


def test_a_finished_run_trains_nothing_and_continues_only_when_asked(tiny_checkpoints, samples, tmp_path, capsys):
    """Five steps end mid-epoch; running the same call again must not train a sixth (it used to: steps 1…7)."""
    out = tmp_path / "run"
    first = finetune(config(tiny_checkpoints, out, max_steps=5, save_every_steps=2), samples, verbose=False)
    adapter = (first.adapter_dir / "adapter_model.safetensors").read_bytes()
    for _ in range(2):
        steps = Steps()
        again = finetune(config(tiny_checkpoints, out, max_steps=5, save_every_steps=2), samples,
                         callbacks=[steps], verbose=True)
        shown = capsys.readouterr().out
        assert steps.run == [] and again.seconds == 0
        assert "already finished" in shown and str(first.adapter_dir) in shown
        assert (again.adapter_dir / "adapter_model.safetensors").read_bytes() == adapter
        assert [h["step"] for h in again.log_history if "loss" in h] == [1, 2, 3, 4, 5]
        assert max_difference(weights(again.adapter_dir), {k: v.detach().cpu() for k, v in
                                                           _adapter_state(again.model).items()}) == 0

    # Killed while the final adapter was being written: the checkpoint of the last step finishes it, untrained.
    (out / "adapter" / "run.json").unlink()
    (out / "adapter" / "adapter_model.safetensors").write_bytes(b"torn")
    steps = Steps()
    rebuilt = finetune(config(tiny_checkpoints, out, max_steps=5, save_every_steps=2), samples, callbacks=[steps],
                       verbose=False)
    assert steps.run == [] and (rebuilt.adapter_dir / "adapter_model.safetensors").read_bytes() == adapter
    assert [h["step"] for h in json.loads(rebuilt.record_path.read_text())["log_history"] if "loss" in h] == \
        [1, 2, 3, 4, 5]

    with pytest.raises(ValueError, match=r"already trained 5 steps.*max_steps=4"):
        finetune(config(tiny_checkpoints, out, max_steps=4, save_every_steps=2), samples, verbose=False)
    steps = Steps()
    longer = finetune(config(tiny_checkpoints, out, max_steps=7, save_every_steps=2), samples, callbacks=[steps],
                      verbose=False)
    assert steps.run == [6, 7]
    assert [h["step"] for h in longer.log_history if "loss" in h] == [1, 2, 3, 4, 5, 6, 7]


def _adapter_state(model) -> dict:
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model)


def _worker():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                                                 os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def _ask(worker, **request) -> dict:
    worker.stdin.write(json.dumps(request) + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_ends_with_the_straight_runs_adapter(tiny_checkpoints, synthetic_data,
                                                                                  straight, tmp_path):
    """Many runs, each killed with SIGKILL at a random moment (during a step, a checkpoint, the final adapter, or
    inside a checkpoint file's write), then run again: each resumes from its newest complete checkpoint and ends
    with the adapter six uninterrupted steps give."""
    from vidlm.checkpoints import newest_complete

    seed = int(os.environ.get("VIDLM_KILL_SEED") or random.SystemRandom().randrange(10**6))
    print(f"kill trials: seed {seed} (VIDLM_KILL_SEED={seed} repeats them)")
    rng = random.Random(seed)
    base = dict(model=tiny_checkpoints["llava-next-video"], csv=str(synthetic_data["train"]), max_steps=6,
                settings={**SETTINGS, "save_every_steps": 1, "resume": "auto"})
    worker = _worker()
    try:
        timed = _ask(worker, out=str(tmp_path / "timing"), **base)
        assert timed.get("code") == 0, timed["stderr"]
        assert max_difference(weights(tmp_path / "timing" / "adapter"), straight) <= 1e-6
        # Moments spread over the whole run: steps, checkpoint saves, the final adapter, and a few after the end.
        trials = [{"kill_after": rng.uniform(0, 1.1 * timed["seconds"])} for _ in range(8)]
        trials += [{"die_in_save": rng.randint(1, 24)} for _ in range(4)]  # 4 torch.save calls per checkpoint
        resumed_from = []
        for n, kill in enumerate(trials):
            out = tmp_path / f"trial{n}"
            killed = _ask(worker, out=str(out), **base, **kill)
            assert killed.get("code", 0) == 0, killed["stderr"]
            newest, torn = newest_complete(out / "checkpoints")
            assert torn or "die_in_save" not in kill  # a checkpoint cut off in the middle of a file
            done = (out / "adapter" / "run.json").is_file()
            again = _ask(worker, out=str(out), **base)
            assert again.get("code") == 0, (kill, killed, again["stderr"])
            start = int(Path(newest).name.split("-")[1]) if newest else 0
            expected = [] if done or start == 6 else list(range(start + 1, 7))
            assert again["steps"] == expected, (kill, killed["steps"], newest, again["steps"])
            record = json.loads((out / "adapter" / "run.json").read_text())
            assert [h["step"] for h in record["log_history"] if "loss" in h] == [1, 2, 3, 4, 5, 6]
            assert max_difference(weights(out / "adapter"), straight) <= 1e-6, kill
            resumed_from.append((kill, killed.get("signal"), killed["steps"][-1:], [p.name for p, _ in torn], start,
                                 done))
        print(f"uninterrupted: {timed['seconds']:.2f} s from the first step to the end")
        print("\n".join(f"{k} signal={s} last step={l} torn={t} resumed from={r} finished={d}"
                        for k, s, l, t, r, d in resumed_from))
        assert sum(1 for _, s, *_ in resumed_from if s == 9) >= 7  # most trials really were killed
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MiB tmpfs (root only; CI runs as root), unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_while_saving_names_the_checkpoint_and_a_resume_completes(small_disk, tiny_checkpoints, samples,
                                                                              straight):
    out = small_disk / "run"
    filler = small_disk / "filler"
    # Each checkpoint is ~1.5 MB: leave room for about two of them.
    filler.write_bytes(b"\0" * (12 * 2**20 - 3_300_000))
    with pytest.raises(OSError, match=r"No space left on the device while saving .*checkpoint-\d.*free some space"):
        finetune(config(tiny_checkpoints, out), samples, verbose=False)
    from vidlm.checkpoints import newest_complete

    newest, skipped = newest_complete(out / "checkpoints")
    assert newest is not None and skipped and int(Path(newest).name.split("-")[1]) < \
        int(skipped[0][0].name.split("-")[1])
    filler.unlink()
    with pytest.warns(UserWarning, match=skipped[0][0].name):
        result = finetune(config(tiny_checkpoints, out), samples, verbose=False)
    assert json.loads(result.record_path.read_text())["resumed_from"] == newest
    assert [h["step"] for h in result.log_history if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert max_difference(weights(result.adapter_dir), straight) <= 1e-6
