"""benchmarks/bench_data.py runs (--dry-run: tiny sizes) and its table has every case × pipeline row."""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench_data", Path(__file__).parents[2] / "benchmarks" /
                                              "bench_data.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_data"] = bench
spec.loader.exec_module(bench)


def test_dry_run_table_has_every_row(capsys):
    text = bench.main(["--dry-run", "--step-rate", "0.58", "1000000"])
    assert text in capsys.readouterr().out
    speed = [line for line in text.splitlines() if line.startswith("| ") and "px" in line and "workers" not in line]
    rows = {}
    for line in speed:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.setdefault(len(cells), []).append(cells)
    main_rows, worker_rows = rows[8], rows[5]
    expected = {(f"{family} {frames // 4}f 32px", name) for family, frames, _ in bench.CASES
                for name in bench.PIPELINES}
    assert {(r[0], r[3]) for r in main_rows} == expected
    assert {(r[0], r[2]) for r in worker_rows} == expected
    for case, clip, shape, name, wall, cpu, ratio, per_core in main_rows:
        frames = int(case.split()[1].rstrip("f"))
        assert shape == f"{frames}×3×32×32"  # the processor's real output at the dry run's size
        assert float(wall) > 0 and float(cpu) > 0
        if name == "tutorial":
            assert ratio == per_core == "1.00×"
    for case, clip, name, slow, fast in worker_rows:
        assert slow == "1"  # every pipeline feeds 0.58 samples/s at these sizes from one worker
        assert int(fast) > 1  # nothing decodes a million samples/s: more workers are asked for


def test_the_tutorial_reader_keeps_uniformly_spaced_frames_of_a_full_decode(tmp_path):
    import numpy as np

    from vidlm.video.decode import load_video

    clip = bench.tiny_clip(tmp_path)  # 48 frames
    frames = bench.read_video_pyav(clip, 4)
    reference = load_video(clip, indices=[0, 12, 24, 36]).frames
    assert frames.shape == (4, 64, 96, 3)
    assert np.array_equal(frames, reference)


def test_workers_needed_rounds_up():
    assert bench.workers_needed(0.58, 2.0) == 1
    assert bench.workers_needed(2.9, 1.0) == 3
    assert bench.workers_needed(3.0, 1.0) == 3
