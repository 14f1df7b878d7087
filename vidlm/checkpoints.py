"""Trainer checkpoints that count only when complete.

transformers writes a `checkpoint-N` folder file by file and its `get_last_checkpoint` takes the highest N without
looking inside, so a kill or a full disk during a save leaves a folder that breaks the next resume. Here a checkpoint
is complete once `CompleteCheckpoints` has flushed its files to disk and written `vidlm_complete.json` last, listing
every file with its size; a folder without that marker, or whose files no longer match it (truncated, missing), is
torn: `newest_complete` skips it and says why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

from transformers import TrainerCallback

from vidlm.runtime.atomic import write_text

MARKER = "vidlm_complete.json"
_NUMBERED = re.compile(r"^checkpoint-(\d+)$")


def torn_reason(folder) -> str | None:
    """Why `folder` is not a complete checkpoint, or None when it is."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / MARKER).read_text())["files"]
    except FileNotFoundError:
        return "no completion marker: the save was cut off"
    except (OSError, ValueError, KeyError, TypeError):
        return f"unreadable {MARKER}"
    for name, size in listed.items():
        try:
            found = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if found != size:
            return f"{name} has {found} bytes, {size} were written"
    return None


def newest_complete(checkpoint_dir) -> tuple[str | None, list[tuple[Path, str]]]:
    """(the highest-numbered complete `checkpoint-N` in `checkpoint_dir` or None, [(torn folder, why)] above it)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return None, []
    numbered = sorted(((int(m[1]), p) for p in folder.iterdir() if (m := _NUMBERED.match(p.name)) and p.is_dir()),
                      reverse=True)
    skipped = []
    for _, path in numbered:
        reason = torn_reason(path)
        if reason is None:
            return str(path), skipped
        skipped.append((path, reason))
    return None, skipped


def warn_skipped(skipped: list[tuple[Path, str]], chosen: str | None) -> None:
    if skipped:
        torn = "; ".join(f"{path.name} ({why})" for path, why in skipped)
        then = f"resuming from {Path(chosen).name}" if chosen else "no complete checkpoint: starting afresh"
        warnings.warn(f"Skipped torn (incomplete) checkpoint(s) in {skipped[0][0].parent}: {torn}; {then}",
                      stacklevel=3)


def step_of(checkpoint) -> int:
    return int(_NUMBERED.match(Path(checkpoint).name)[1])


class CompleteCheckpoints(TrainerCallback):
    """Marks each checkpoint complete once the Trainer has written it: files flushed to disk, then the marker.

    Also keeps secrets out of it: the Trainer pickles its TrainingArguments (hub_token included) into
    training_args.bin; that copy is rewritten with secret-like fields redacted before the marker is written.
    Tells `saving` whether a checkpoint save is under way (set at the end of a step that will save, cleared once
    marked), so that a failure then can be reported as a failed save of that folder.
    """

    def __init__(self):
        self.saving: Path | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:  # decided by the flow callback, which runs before this one
            self.saving = Path(args.output_dir, f"checkpoint-{state.global_step}")

    def on_save(self, args, state, control, **kwargs):
        import torch.distributed as dist

        folder = Path(args.output_dir, f"checkpoint-{state.global_step}")
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.barrier()  # every rank has written its own rng_state_<rank>.pth
        if args.should_save:
            _redact_training_args(args, folder)
            mark_complete(folder)
        self.saving = None


def mark_complete(folder) -> Path:
    """Flush `folder`'s files to disk, then write the marker listing each file and its size."""
    files = sync_folder(folder)
    return write_text(Path(folder) / MARKER, json.dumps({"files": files}, indent=1) + "\n")


def sync_folder(folder) -> dict[str, int]:
    """Flush every file of `folder` (and the folder itself) to disk; returns {name: size} (the marker excluded)."""
    folder = Path(folder)
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != MARKER:
            _fsync(path)
            files[path.name] = path.stat().st_size
    _fsync(folder)
    return files


def _redact_training_args(args, folder: Path) -> None:
    import copy

    import torch

    from vidlm.runtime.runinfo import is_secret_key

    path = folder / "training_args.bin"
    secrets = [k for k, v in vars(args).items() if v and is_secret_key(k)]
    if path.is_file() and secrets:
        clean = copy.copy(args)
        for key in secrets:
            object.__setattr__(clean, key, "<redacted>")
        with open(path, "wb") as f:
            torch.save(clean, f)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resume_checkpoint(resume: bool | str | None, checkpoint_dir, remove_torn: bool = False) -> str | None:
    """The Trainer checkpoint to resume from: None (start afresh), the newest complete `checkpoint-N` (resume="auto"
    or True; None when there is none yet, so the same call starts and later resumes a run) or the folder given.

    Torn checkpoints (a kill or a full disk cut their save short) are skipped with a warning naming them;
    remove_torn: also delete them, so the Trainer neither counts them among the checkpoints it keeps nor mixes them
    with the ones it writes next.
    """
    if resume in (False, None, ""):
        return None
    if resume in (True, "auto"):
        chosen, skipped = newest_complete(checkpoint_dir)
        warn_skipped(skipped, chosen)
        for path, _ in skipped if remove_torn else []:
            shutil.rmtree(path, ignore_errors=True)
        return chosen
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"resume={resume!r} is not a Trainer checkpoint (no trainer_state.json there); pass "
                                f"a checkpoint-N folder, 'auto' for the newest in {checkpoint_dir}, or False")
    if (path / MARKER).exists() and (why := torn_reason(path)):  # no marker: a checkpoint another tool wrote
        raise ValueError(f"resume={resume!r} is a torn checkpoint ({why}); pass a complete one, or 'auto' for the "
                         f"newest complete one in {checkpoint_dir}")
    return str(path)
