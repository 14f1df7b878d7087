"""benchmarks/bench_video.py --quick runs on tiny clips and prints the whole grid, vidlm's frames equal to ffmpeg's."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("bench_video", Path(__file__).parents[2] / "benchmarks" /
                                              "bench_video.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_video"] = bench
spec.loader.exec_module(bench)


def test_quick_grid_has_every_cell_with_frames_equal_to_ffmpeg(tmp_path, capsys):
    pytest.importorskip("torch")  # the DataLoader case
    text = bench.main(["--quick", "--videos", str(tmp_path)])
    assert text in capsys.readouterr().out
    names = list(bench.decoders())
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and "GOP" in line]
    expected = {(f"{size}, GOP {keyint}, {seconds} s", str(count)) for size in bench.QUICK_SIZES
                for keyint in bench.KEYINTS for seconds in (2, 6) for count in bench.COUNTS}
    assert len(rows) == 36 and {(r[0], r[1]) for r in rows} == expected
    for row in rows:
        assert len(row) == 2 + len(names) + 3
        assert all(float(ms) > 0 for ms in row[2:2 + len(names)])
        ratio, exact, read = row[2 + len(names):]
        assert exact == "yes", row
        assert re.fullmatch(r"\d+ seeks, \d+ decoded, \d+ thr", read), read
        if len(names) > 1:
            assert re.fullmatch(r"\d+\.\d\dx", ratio)
    assert "frames equal to ffmpeg's: 36 of 36 cells" in text
    if len(names) > 1:
        assert re.search(r"geometric mean \d+\.\d\dx over 36 cells, min \d+\.\d\dx, max \d+\.\d\dx, \d+ cells behind",
                         text)
    loader = re.search(r"DataLoader \(2 workers, every clip, 8 frames\): vidlm (\d+\.\d\d) clips/s", text)
    assert loader and float(loader.group(1)) > 0
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == sorted(
        f"{size}_gop{keyint}_{seconds}s.mp4" for size in bench.QUICK_SIZES for keyint in bench.KEYINTS
        for seconds in (2, 6))


def test_cells_print_the_best_peer_ratio():
    row = {"video": "360p, GOP 12, 2 min", "frames": 8, "ms": {"vidlm": 10.0, "torchcodec": 15.0, "decord": 30.0},
           "exact": True, "best": "torchcodec", "ratio": 1.5, "plan": "8 seeks, 30 decoded, 1 thr"}
    fns = {"vidlm": None, "torchcodec": None, "decord": None}
    assert bench._cells(row, fns) == "| 360p, GOP 12, 2 min | 8 | 10 | 15 | 30 | 1.50x | yes | 8 seeks, 30 decoded, 1 thr |"
    text = bench.report([row, {**row, "ratio": 0.5}], fns, None)
    assert "geometric mean 0.87x over 2 cells, min 0.50x, max 1.50x, 1 cells behind" in text
