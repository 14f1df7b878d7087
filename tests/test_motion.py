"""vidlm.motion on real footage moved by known camera moves (benchmarks/bench_motion.py's renderer, small and short)
and the `vidlm motion` command."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vidlm.motion import MotionEstimate, camera_motion, estimate_camera_motion

spec = importlib.util.spec_from_file_location("bench_motion", Path(__file__).parent.parent / "benchmarks" /
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
    from vidlm.video import load_video

    face = load_video(clips["static"], num_frames=24).frames
    sky = bench.render(bench.source_frames("sky")[:24], 0, 0, 1, out=(72, 128))
    cuts = np.concatenate([face[:6], sky[:6], face[6:12], sky[6:12]])  # four scenes, three cuts
    assert estimate_camera_motion(cuts).explained < 0.75
    assert camera_motion(cuts) == "unclassified"
