"""Writing a final file atomically: the content goes to a unique temporary name in the same folder, is flushed to
disk, then renamed over the final name — so a kill, a crash or a full disk never leaves a torn file under a name that
a reader (or a resume) takes as finished, and two writers never share a temporary file.

    with atomic_path("results/index.html") as tmp:   # any writer that takes a path
        render(tmp)
    write_text("run.json", text)                     # or text/bytes directly

Hand-written (a few lines) rather than a dependency: the standard library has no atomic write, and the libraries that
add one do not name the path in a disk-full error.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(final, *, suffix: str | None = None):
    """Yield a fresh temporary path beside `final`; on success move it over `final`, else remove it.

    suffix: the temporary file's extension (default: `final`'s), for writers that pick a format from the name.
    A full disk becomes an `OSError` naming `final` and saying to free space; nothing is left under either name.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=(suffix or final.suffix) + ".tmp")
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make every result private: the mode open() gives instead
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, final)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"No space left on the device while writing {final}; free some space and "
                          "run again (nothing torn was left under that name)") from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(final, data: bytes) -> Path:
    """Write `data` to `final` atomically; returns `final` as a Path."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def write_text(final, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `final` atomically; returns `final` as a Path."""
    return write_bytes(final, text.encode(encoding))


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
