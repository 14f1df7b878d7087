"""vidlm.jobs.motion on real footage moved by known camera moves (benchmarks/bench_motion.py's renderer, small and short)
and the `vidlm motion` command."""

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.seeds import seed_for
from helpers.row_job_files import env, kill_after_random_rows, rows_of, write_csv
from vidlm.jobs.motion import MotionEstimate, camera_motion, estimate_camera_motion

spec = importlib.util.spec_from_file_location("bench_motion", Path(__file__).parents[2] / "benchmarks" /
                                              "bench_motion.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

# (pan, tilt, zoom) of the content over the clip -> Open-Sora's label at threshold 0.25
MOVES = {
    "static": (0, 0, 1),
    "pan_left": (0.45, 0, 1),  # content moves right: the camera turned left
    "pan_right": (-0.45, 0, 1),
    "tilt_up": (0, 0.45, 1),  # content moves down
    "tilt_down": (0, -0.45, 1),
    "zoom_in": (0, 0, 1.5),
    "zoom_out": (0, 0, 0.6),
    "pan_left+zoom_in": (0.4, 0, 1.45),
    "pan_right+tilt_down": (-0.4, -0.4, 1),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """1-second H.264 clips, 128x72, each a crop window moved over real footage (a face before wood)."""
    folder = tmp_path_factory.mktemp("motion")
    source = bench.source_frames("face")[:24]
    made = {}
    for name, move in MOVES.items():
        frames = bench.render(source, *move, out=(72, 128))
        made[name] = folder / f"{name}.mp4"
        bench.write_h264(made[name], frames)
    return made


@pytest.mark.parametrize("label", list(MOVES))
def test_each_camera_move_gets_its_label(clips, label):
    assert camera_motion(clips[label]) == label


def test_the_estimate_measures_the_move(clips):
    pan = estimate_camera_motion(clips["pan_left"])
    assert pan.pan == pytest.approx(0.45, abs=0.05) and abs(pan.tilt) < 0.05 and pan.zoom == pytest.approx(1, abs=0.03)
    zoom = estimate_camera_motion(clips["zoom_out"])
    assert zoom.zoom == pytest.approx(0.6, abs=0.04) and abs(zoom.pan) < 0.05 and abs(zoom.roll) < 1.5


def test_threshold_is_the_whole_clips_displacement_over_the_shorter_side(clips):
    # the pan moves the content 0.45 of the frame's height: a tag at 0.4, none at 0.5
    assert camera_motion(clips["pan_left"], threshold=0.4) == "pan_left"
    assert camera_motion(clips["pan_left"], threshold=0.5) == "static"
    # the combination loses the part under the threshold first: the zoom (edge shift 0.40) stays at 0.38
    assert camera_motion(clips["pan_left+zoom_in"], threshold=0.38) == "pan_left+zoom_in"


def test_frames_in_memory_are_a_whole_clip(clips):
    source = bench.source_frames("indoor")[:24]
    frames = bench.render(source, 0, -0.5, 1, out=(72, 128))
    assert camera_motion(frames) == "tilt_down"


def test_label_rules():
    wide = 16 / 9
    # a zoom counts by the shift of the left and right edges' middles: 16:9 at 1.29x moves them 0.258 x the height
    assert MotionEstimate(0, 0, 1.29, 0, 1, 8, wide).label(0.25) == "zoom_in"
    assert MotionEstimate(0, 0, 1.27, 0, 1, 8, wide).label(0.25) == "static"
    assert MotionEstimate(0, 0, 1.29, 0, 1, 8, 1 / wide).label(0.25) == "zoom_in"  # portrait: top and bottom
    assert MotionEstimate(-0.3, 0.3, 0.7, 0, 1, 8, wide).label(0.25) == "pan_right+tilt_up+zoom_out"
    assert MotionEstimate(0, 0, 1, 25, 1, 8, wide).label(0.25) == "unclassified"  # a roll has no category
    assert MotionEstimate(0.5, 0, 1, 0, 0.5, 8, wide).label(0.25) == "unclassified"  # half the pairs unexplained
    assert MotionEstimate(0, 0, 1, 0, 0.0, 1, wide).label(0.25) == "unclassified"  # one frame: nothing to compare


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "0.25", True])
def test_bad_threshold_is_refused(clips, bad):
    with pytest.raises(ValueError, match="threshold must be a number > 0"):
        camera_motion(clips["static"], threshold=bad)


def test_unreadable_video_raises_decode_error(tmp_path):
    from vidlm import VideoDecodeError

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        camera_motion(bad)


def test_a_cut_to_another_scene_is_unclassified(clips):
    from vidlm.video.decode import load_video

    face = load_video(clips["static"], num_frames=24).frames
    sky = bench.render(bench.source_frames("sky")[:24], 0, 0, 1, out=(72, 128))
    cuts = np.concatenate([face[:6], sky[:6], face[6:12], sky[6:12]])  # four scenes, three cuts
    assert estimate_camera_motion(cuts).explained < 0.75
    assert camera_motion(cuts) == "unclassified"


# --- `vidlm motion` -------------------------------------------------------------------------------------------------




@pytest.fixture
def table(clips, tmp_path):
    """A CSV of the clips by relative path, with a caption column, a missing file and an empty path."""
    for name, clip in clips.items():
        (tmp_path / clip.name).symlink_to(clip)
    rows = [{"path": clips[name].name, "text": f"A clip, {name}.", "id": str(i)} for i, name in enumerate(MOVES)]
    rows.insert(2, {"path": "gone.mp4", "text": "Missing.", "id": "gone"})
    rows.append({"path": "", "text": "", "id": "empty"})
    return write_csv(tmp_path / "videos.csv", rows), rows


def test_cli_adds_a_cmotion_column_and_failed_rows_carry_their_error(table, tmp_path, capsys):
    from vidlm.cli import main

    source, rows = table
    out = tmp_path / "motion.csv"
    assert main(["motion", str(source), "--output", str(out), "--no-progress"]) == 0
    got = rows_of(out)
    assert list(got[0]) == ["motion_row", "path", "text", "id", "cmotion", "motion_status", "motion_error"]
    assert [r["id"] for r in got] == [r["id"] for r in rows] and [int(r["motion_row"]) for r in got] == list(
        range(len(rows)))
    by_id = {r["id"]: r for r in got}
    for i, name in enumerate(MOVES):
        assert (by_id[str(i)]["cmotion"], by_id[str(i)]["motion_status"]) == (name, "ok")
        assert by_id[str(i)]["text"] == f"A clip, {name}."  # the caption column is left alone by default
    assert by_id["gone"]["motion_status"] == "failed" and "gone.mp4" in by_id["gone"]["motion_error"]
    assert (by_id["empty"]["motion_status"], by_id["empty"]["motion_error"]) == ("failed", "empty path")
    assert f"wrote {out}: {len(rows)} rows, {len(MOVES)} ok, 2 failed" in capsys.readouterr().err


def test_caption_column_gets_the_camera_motion_appended(table, tmp_path):
    from vidlm.cli import main

    source, _ = table
    out = tmp_path / "motion.csv"
    assert main(["motion", str(source), "--output", str(out), "--caption-column", "text", "--no-progress"]) == 0
    by_id = {r["id"]: r for r in rows_of(out)}
    assert by_id["1"]["text"] == "A clip, pan_left. Camera motion: pan left."
    assert by_id["7"]["text"] == "A clip, pan_left+zoom_in. Camera motion: pan left, zoom in."
    assert by_id["0"]["text"] == "A clip, static. Camera motion: static."
    assert by_id["gone"]["text"] == "Missing."  # a failed row keeps its caption as it was


def test_threshold_flag_reaches_the_tags_and_a_resume_with_another_is_refused(table, tmp_path, capsys):
    from vidlm.cli import main

    source, _ = table
    out = tmp_path / "motion.csv"
    assert main(["motion", str(source), "--output", str(out), "--threshold", "0.4", "--no-progress"]) == 0
    by_id = {r["id"]: r for r in rows_of(out)}
    # at 0.4 the 0.45 pan and the 1.5x zoom in (edges 0.44) still count, the zoom out to 0.6x (edges 0.36) does not
    assert [by_id[i]["cmotion"] for i in "156"] == ["pan_left", "zoom_in", "static"]
    part = Path(f"{out}.part-00000-of-00001")
    part.write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:4]))  # an unfinished run at 0.4: 3 rows
    out.unlink()
    capsys.readouterr()
    assert main(["motion", str(source), "--output", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "threshold" in err


@pytest.mark.parametrize("case", ["no path column", "no caption column", "bad threshold", "missing input"])
def test_bad_input_is_one_line_naming_the_problem(tmp_path, capsys, case):
    from vidlm.cli import main

    source = write_csv(tmp_path / "in.csv", [{"video": "a.mp4"}] if case == "no path column" else [{"path": "a.mp4"}])
    args = ["motion", str(source), "--output", str(tmp_path / "out.csv")]
    expected = {"no path column": "has no `path` column", "no caption column": "no `caption` column",
                "bad threshold": "threshold must be > 0", "missing input": "not found"}[case]
    if case == "no caption column":
        args += ["--caption-column", "caption"]
    if case == "bad threshold":
        args += ["--threshold", "0"]
    if case == "missing input":
        args[1] = str(tmp_path / "nothing.csv")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("vidlm motion: error:") and expected in err, err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_every_row_once(clips, tmp_path):
    """Real `vidlm motion` processes killed with SIGKILL at random moments, resumed each time, then run to the end."""
    from vidlm.jobs.caption_files import read_input, scan
    from vidlm.jobs.motion import motion_layout

    rows = [{"path": str(clips[name]), "copy": str(k)} for k in range(4) for name in MOVES]  # 36 rows
    expected = [name for _ in range(4) for name in MOVES]
    source = write_csv(tmp_path / "videos.csv", rows)
    out = tmp_path / "motion.csv"
    command = [sys.executable, "-m", "vidlm.cli", "motion", str(source), "--output", str(out), "--no-progress"]
    seed = seed_for(13)
    rng = random.Random(seed)
    part = Path(f"{out}.part-00000-of-00001")
    table = read_input(source, motion_layout())
    for trial in range(4):
        running, code, stderr = kill_after_random_rows(command, env(), part, len(rows), rng)
        assert running or code == 0, f"seed {seed}, trial {trial}: {stderr[-2000:]}"
        # a kill after a number of rows, at most a third of those left, lands mid-run: whole records (at most one
        # torn at the end), each row at most once
        found = scan(part, table)
        done = [r["motion_row"] for r in found.records]
        assert running and 0 < len(done) < len(rows), f"seed {seed}, trial {trial}: {len(done)} rows done"
        assert len(done) == len(set(done)), f"seed {seed}: a row was tagged twice"
        assert all(r["cmotion"] == expected[r["motion_row"]] for r in found.records), f"seed {seed}"
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = rows_of(out)
    assert [int(r["motion_row"]) for r in got] == list(range(len(rows))), f"seed {seed}"
    assert [(r["path"], r["copy"]) for r in got] == [(r["path"], r["copy"]) for r in rows]
    assert [r["cmotion"] for r in got] == expected, f"seed {seed}"
    assert all(r["motion_status"] == "ok" for r in got) and not part.exists()
