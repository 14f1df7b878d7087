"""Test helpers for row jobs (`vidlm caption`, `tag`, `motion`): CSV files in and out, and killing a run mid-way."""

import csv
import os
import signal
import subprocess
import time
from pathlib import Path


def env(**extra) -> dict:
    """This environment for a row job run as one process: no launcher variables from the test's own launch."""
    drop = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "HF_HUB_OFFLINE": "1", **extra}


def rows_of(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def written_rows(part) -> int:
    """Records in a part file (its header line not counted; a torn last line counts: the kill may land in it)."""
    return max(part.read_bytes().count(b"\n") - 1, 0) if part.exists() else 0


def kill_after_random_rows(command, env, part, total: int, rng, *, target=None, wait_s=120.0, settle_s=0.1):
    """Run `command` (a row job writing `part`) and SIGKILL it, with its process group (orphaned decoding workers
    too), once `part` holds `target` records — by default a random number more than now, at most a third of those
    left — or after `wait_s`, then after a random pause of up to `settle_s` (a kill inside a batch's write).

    Returns (whether it was still running when killed, its exit code, its stderr).
    """
    before = written_rows(part)
    target = before + rng.randint(1, max(1, (total - before) // 3)) if target is None else target
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + wait_s
        while proc.poll() is None and time.monotonic() < deadline and written_rows(part) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, settle_s))
        running = proc.poll() is None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    return running, proc.returncode, proc.stderr.read().decode()
