import sys

import pytest

import helpers.hostile_videos as hv
import vidlm.video.scan
from vidlm.cli import main
from vidlm.video.scan import check_video, scan_videos


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("scan")
    good = hv.write_case("ntsc_bframes_mp4", root)
    (root / "nested").mkdir()
    hv.write_case("vp9_webm", root / "nested")
    data = good.read_bytes()
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video")
    (root / "cut.mp4").write_bytes(data[: len(data) // 2])  # index at the end: gone
    garbage = bytearray(hv.write_case("bframes_mkv", root / "nested").read_bytes())
    garbage[len(garbage) // 2: len(garbage) // 2 + 2000] = bytes(2000)
    (root / "nested" / "bframes_mkv.mkv").write_bytes(bytes(garbage))
    (root / "readme.txt").write_text("not scanned: not a video suffix")
    return root


def test_scan_reports_every_file_with_its_verdict_in_order(folder):
    results = scan_videos([folder], workers=2, progress=False)
    by_name = {r.path.split("/")[-1]: r for r in results}
    assert [r.path for r in results] == sorted(r.path for r in results)  # folder contents, sorted, in order
    assert set(by_name) == {"ntsc_bframes_mp4.mp4", "vp9_webm.webm", "bframes_mkv.mkv", "empty.mp4", "notes.mp4",
                            "cut.mp4"}
    good = by_name["ntsc_bframes_mp4.mp4"]
    assert (good.status, good.frames, good.width, good.height) == ("ok", 90, 96, 64)
    assert good.fps == pytest.approx(29.97) and good.duration == pytest.approx(3.003)
    assert (by_name["vp9_webm.webm"].status, by_name["vp9_webm.webm"].frames) == ("ok", 45)
    assert by_name["empty.mp4"].status == "unusable" and "empty" in by_name["empty.mp4"].reason
    assert by_name["notes.mp4"].status == "unusable" and "cannot decode" in by_name["notes.mp4"].reason
    assert by_name["cut.mp4"].status == "unusable"
    damaged = by_name["bframes_mkv.mkv"]
    assert damaged.status == "damaged" and damaged.frames < 60 and damaged.reason


FAKE_SERVER = """
import json, os, signal, sys, time
from dataclasses import asdict
from vidlm.video.scan import check_video
for line in sys.stdin:
    path = json.loads(line)
    if os.path.basename(path) == "hang.mp4":
        time.sleep(600)
    if os.path.basename(path) == "crash.mp4":
        os.kill(os.getpid(), signal.SIGSEGV)
    print(json.dumps(asdict(check_video(path))), flush=True)
"""


def test_a_hanging_or_crashing_file_is_reported_and_the_scan_goes_on(folder, tmp_path, monkeypatch):
    server = tmp_path / "server.py"
    server.write_text(FAKE_SERVER)
    monkeypatch.setattr(vidlm.video.scan, "_worker_command", lambda full: [sys.executable, str(server)])
    good = str(folder / "ntsc_bframes_mp4.mp4")
    paths = [good, str(tmp_path / "crash.mp4"), good, str(tmp_path / "hang.mp4"), good, good]
    results = scan_videos(paths, workers=2, timeout=3, progress=False)
    assert [r.path for r in results] == paths
    assert [r.status for r in results] == ["ok", "unusable", "ok", "unusable", "ok", "ok"]
    assert results[1].reason == "the decoder crashed (exit code -11)"
    assert results[3].reason == "timed out after 3 s"


def test_quick_check_and_cli_exit_code(folder, tmp_path, capsys):
    assert check_video(folder / "ntsc_bframes_mp4.mp4", full=False).status == "ok"
    code = main(["scan", str(folder), "--csv", str(tmp_path / "report.csv")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0] == "6 videos: 2 ok, 1 damaged, 3 unusable"
    assert "empty.mp4: the file is empty (0 bytes)" in out
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "path,status,reason,frames,duration,fps,width,height" and len(rows) == 7
    assert main(["scan", str(folder / "ntsc_bframes_mp4.mp4")]) == 0


def test_paths_that_are_not_regular_files_are_unusable_and_say_so(tmp_path):
    import os

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # a worker that opened it would wait for a writer until the time limit
    results = scan_videos([fifo, "/dev/zero"], workers=1, timeout=60, progress=False)
    assert [(r.status, r.reason) for r in results] == [("unusable", "is not a regular file (a named pipe)"),
                                                       ("unusable", "is not a regular file (a character device)")]
