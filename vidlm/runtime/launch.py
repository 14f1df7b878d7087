"""Where this process stands in a launch (torchrun, accelerate launch, or alone) and how processes meet.

torchrun and `accelerate launch --multi_gpu` set RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and a rendezvous
(MASTER_ADDR/PORT). `process_info()` reads and checks them (one process when unset); `ProcessGroup.start` holds a
gloo barrier when a rendezvous exists; `wait_for_parts` lets rank 0 wait for the other ranks' completion markers on
a shared disk; `default_parallelism` splits the machine's cores between the processes on it,
`process_gpus` its GPUs. Used by `vidlm caption`
(shards and parts) and `vidlm finetune` (which checks the environment before loading anything).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


class LaunchError(RuntimeError):
    """The launch environment or the other processes let this one down; the message says what to do."""


@dataclass
class ProcessInfo:
    """This process's place in a launch (torchrun / accelerate launch set these variables; one process otherwise)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1


def process_info(environ=os.environ) -> ProcessInfo:
    def number(name, default):
        value = environ.get(name, "")
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise LaunchError(f"{name}={value!r} in the environment is not an integer") from None

    world, rank = number("WORLD_SIZE", 1), number("RANK", 0)
    info = ProcessInfo(rank, world, number("LOCAL_RANK", rank), number("LOCAL_WORLD_SIZE", world))
    if world < 1 or not 0 <= rank < world:
        raise LaunchError(f"RANK={rank} and WORLD_SIZE={world} in the environment do not fit (0 <= RANK < "
                          "WORLD_SIZE); unset them for one process")
    return info


def default_parallelism(local_world_size: int = 1) -> tuple[int, int]:
    """(decoding workers, torch threads) for one of `local_world_size` processes sharing this machine's cores.

    Cores are split between the processes; each runs 2 to 4 decoding workers (about a quarter of its share: they
    mostly wait on a full prefetch queue, and two absorb the jitter one left as gaps in generation on busy cores)
    and gives torch the rest, at least 1 thread. Oversubscribing torch is costly: on 2 busy cores, generation with 2
    torch threads next to a decoding worker ran 5-10x slower than with 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = max(1, cores // max(1, local_world_size))
    workers = min(4, max(2, share // 4))
    return workers, max(1, share - workers)


def process_gpus(proc: ProcessInfo, gpus_per_process: int, visible: int) -> list[int]:
    """The GPUs (indices among the visible ones) of this process: local rank r takes [g·r, g·r + g).

    8 GPUs, 4 processes × 2 GPUs each: rank 0 → [0, 1], rank 1 → [2, 3] … No GPU visible: [] (the CPU). With one
    GPU per process, processes beyond the visible GPUs share them in turn (small models fit several per GPU); a model
    split over several GPUs is too big for that, so there every process needs GPUs of its own.
    """
    if gpus_per_process < 1:
        raise LaunchError(f"gpus_per_process must be >= 1, got {gpus_per_process}")
    if visible == 0:
        return []
    if gpus_per_process == 1:
        return [proc.local_rank % visible]
    if gpus_per_process > visible:
        raise LaunchError(f"gpus_per_process={gpus_per_process} but {visible} GPU(s) visible (CUDA_VISIBLE_DEVICES); "
                          f"use gpus_per_process <= {visible}")
    needed = proc.local_world_size * gpus_per_process
    if needed > visible:
        raise LaunchError(
            f"{proc.local_world_size} process(es) on this machine × {gpus_per_process} GPUs each need {needed} GPUs, "
            f"but {visible} are visible (CUDA_VISIBLE_DEVICES); start {visible // gpus_per_process or 1} process(es) "
            f"per machine (torchrun --nproc_per_node), or lower gpus_per_process to "
            f"{visible // proc.local_world_size or 1}")
    first = proc.local_rank * gpus_per_process
    return list(range(first, first + gpus_per_process))


class ProcessGroup:
    """A gloo process group for a start barrier when the launcher offers a rendezvous (torchrun, accelerate launch).

    Captioning uses the barrier so every process has removed its stale completion marker before rank 0 looks for
    markers. The end needs no barrier: rank 0 waits for the markers, with a timeout.
    """

    def __init__(self, dist, owned: bool):
        self.dist, self.owned = dist, owned

    @classmethod
    def start(cls, proc: ProcessInfo, timeout_s: float, what: str = "processes"):
        """Meet every rank at a barrier (None when alone or without a rendezvous: start the processes together)."""
        if proc.world_size == 1:
            return None
        from datetime import timedelta

        import torch.distributed as dist

        if not dist.is_available():
            return None
        if not dist.is_initialized() and not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
            return None
        group = cls(dist, owned=False)
        try:
            if not dist.is_initialized():
                dist.init_process_group("gloo", rank=proc.rank, world_size=proc.world_size,
                                        timeout=timedelta(seconds=timeout_s))
                group.owned = True
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=timeout_s), wait_all_ranks=True)
            else:
                dist.barrier()
        except RuntimeError as err:
            group.stop()
            raise LaunchError(f"Not every one of the {proc.world_size} {what} reached the start within "
                              f"{timeout_s:.0f} s: {err}") from err
        return group

    def stop(self) -> None:
        if self.owned and self.dist.is_initialized():
            self.dist.destroy_process_group()
            self.owned = False


def wait_for_parts(parts: list[Path], markers: list[Path], timeout_s: float, what: str, hint: str) -> None:
    """Block until every rank's completion marker exists; give up after `timeout_s` without any part growing.

    parts[r] is what rank r writes, markers[r] the file it writes once done; `what` and `hint` complete the error
    ("… to finish {what} … {hint}").
    """
    def sizes():
        return [p.stat().st_size if p.exists() else -1 for p in parts]

    last, since = sizes(), time.monotonic()
    while True:
        waiting = [r for r, marker in enumerate(markers) if not marker.exists()]
        if not waiting:
            return
        now = sizes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > timeout_s:
            raise LaunchError(
                f"Waited {timeout_s:.0f} s for rank(s) {waiting} of {len(parts)} to finish {what}, and no part grew "
                f"meanwhile ({', '.join(parts[r].name for r in waiting)}). Are those processes still running? {hint}")
        time.sleep(0.2)
