import errno
import os
import subprocess
import sys

import pytest

from vidlm.runtime.atomic import atomic_path, write_text


def test_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "page.html"
    write_text(target, "first")
    write_text(target, "second ünïcode")
    assert target.read_text(encoding="utf-8") == "second ünïcode"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]


def test_failure_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "a.gif"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".tmp" and tmp.name.endswith(".gif.tmp")
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]


def test_two_writers_get_distinct_temporaries(tmp_path):
    with atomic_path(tmp_path / "x.csv") as one, atomic_path(tmp_path / "x.csv") as two:
        assert one != two
        one.write_text("1")
        two.write_text("2")
    assert (tmp_path / "x.csv").read_text() == "1"  # the outer writer finished last


def test_disk_full_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "index.html"

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match=r"No space left on the device while writing .*index\.html"):
        write_text(target, "x")
    assert list(tmp_path.iterdir()) == []


def test_kill_during_write_never_leaves_final_name(tmp_path):
    target = tmp_path / "big.bin"
    script = (f"import os\nfrom vidlm.runtime.atomic import atomic_path\nwith atomic_path({str(target)!r}) as t:\n"
              f"    f = open(t, 'wb'); f.write(b'x' * 1000); f.flush(); os.kill(os.getpid(), 9)\n")
    result = subprocess.run([sys.executable, "-c", script])
    assert result.returncode == -9
    assert not target.exists()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_written_file_has_the_permissions_open_would_give(tmp_path, umask):
    """The temporary file mkstemp makes is 0600; the final file gets 0666 less the umask, as `open(..., "w")` gives
    (0644 under the usual 022), so results can be shared like any other file."""
    import stat

    previous = os.umask(umask)
    try:
        write_text(tmp_path / "metrics.json", "{}")
        with open(tmp_path / "plain.json", "w") as f:
            f.write("{}")
    finally:
        os.umask(previous)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("metrics.json", "plain.json")}
    assert modes["metrics.json"] == modes["plain.json"] == 0o666 & ~umask
