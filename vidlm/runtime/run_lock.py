"""One writer per output folder: an advisory lock (flock) on `<folder>/.vidlm-run.lock` held for the whole run.

The lock file also says who holds it (pid, host, start time) so that a refused run can name the holder. The kernel
releases the lock when its holder dies (even by kill -9), so a crash never leaves a stale lock behind; forked children
(data loader workers) close their inherited copy, so they cannot keep a dead run's folder locked.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".vidlm-run.lock"
_held: set[int] = set()  # descriptors this process holds locks through; closed in forked children


class RunLockedError(RuntimeError):
    """Another run holds the folder."""


class RunLock:
    """`with RunLock(output_dir):` — refuses (RunLockedError) while another run, in any process, holds the folder."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one run per folder is then up to the user
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise RunLockedError(f"{self.folder} is in use by another run ({holder}); wait for it to end, or pick "
                                 "another output_dir") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self.fd = fd
        _held.add(fd)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            _held.discard(self.fd)
            os.close(self.fd)  # releases the lock; the file stays (removing it would race with the next locker)
            self.fd = None


def _describe(content: bytes) -> str:
    try:
        holder = json.loads(content)
        return f"pid {holder['pid']} on {holder['host']} since {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown: it is just starting"


def _close_in_child() -> None:
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)
