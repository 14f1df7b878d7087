import csv

import numpy as np
import pytest

from vidlm.demo.synthetic import COLOURS, ClipSpec, attribute_accuracy, make_split, parse_caption, render_clip
from vidlm.video.decode import load_video


def centroid(frame, colour):
    """(x, y) mean of the pixels that have exactly the shape's colour."""
    ys, xs = np.nonzero(np.all(frame == COLOURS[colour], axis=-1))
    assert len(xs) > 0, "shape not visible"
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("direction, axis, sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
def test_render_clip_moves_the_shape_in_its_direction(direction, axis, sign, shape):
    frames = render_clip(ClipSpec("red", shape, direction), np.random.default_rng(1), size=64, num_frames=16)
    assert frames.shape == (16, 64, 64, 3) and frames.dtype == np.uint8
    start, end = centroid(frames[0], "red"), centroid(frames[-1], "red")
    assert sign * (end[axis] - start[axis]) > 0.4 * 64  # travels 45-60% of the frame
    assert abs(end[1 - axis] - start[1 - axis]) < 1  # and not along the other axis (within rasterisation)
    for frame in frames:  # the whole shape stays inside: nothing of it touches the border
        mask = np.all(frame == COLOURS["red"], axis=-1)
        assert mask.sum() > 20
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_make_split_writes_clips_and_captions(tmp_path):
    csv_path = make_split(tmp_path, "train", count=5, seed=0, num_frames=8)
    assert csv_path == tmp_path / "train" / "captions.csv"
    rows = read_csv(csv_path)
    assert rows[0] == ["path", "caption", "colour", "shape", "direction"]
    assert [r[0] for r in rows[1:]] == [f"train_{i:04d}.mp4" for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "train").glob("*.mp4")) == [r[0] for r in rows[1:]]
    for name, caption, colour, shape, direction in rows[1:]:
        assert caption == ClipSpec(colour, shape, direction).caption
    assert len({tuple(r[2:]) for r in rows[1:]}) == 5  # the first 48 clips are all different specs
    # The clip shows what its caption says: pixels near the named colour are there.
    name, _, colour, _, _ = rows[1]
    frame = load_video(tmp_path / "train" / name, num_frames=1).frames[0].astype(int)
    assert (np.abs(frame - COLOURS[colour]).max(axis=-1) <= 12).sum() > 20


def test_make_split_is_deterministic_per_seed_and_differs_between_splits(tmp_path):
    a = make_split(tmp_path / "a", "train", count=3, seed=7, num_frames=8)
    b = make_split(tmp_path / "b", "train", count=3, seed=7, num_frames=8)
    other = make_split(tmp_path / "a", "test", count=3, seed=7, num_frames=8)
    assert a.read_text() == b.read_text()
    assert [r[1:] for r in read_csv(a)[1:]] != [r[1:] for r in read_csv(other)[1:]]
    # Same seed, same bytes (the encoder runs single-threaded, so x264 is deterministic).
    for name in ("train_0000.mp4", "train_0001.mp4", "train_0002.mp4"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    fa = load_video(a.parent / "train_0000.mp4", num_frames=8).frames.astype(int)
    fo = load_video(other.parent / "test_0000.mp4", num_frames=8).frames.astype(int)
    assert np.abs(fa - fo).mean() > 5  # a different clip, not a re-encoding of the same one


def test_parse_caption():
    assert parse_caption("A Red circle moves LEFT.") == {"colour": "red", "shape": "circle", "direction": "left"}
    assert parse_caption("a red and blue square moves up") == {"colour": None, "shape": "square", "direction": "up"}
    assert parse_caption("") == {"colour": None, "shape": None, "direction": None}
    assert parse_caption("something goes upward") == {"colour": None, "shape": None, "direction": None}


def test_attribute_accuracy():
    refs = ["a red circle moves left", "a blue square moves up", "a green triangle moves down", "a yellow circle moves right"]
    preds = [
        "a red circle moves left",  # all right
        "a red and blue square moves up",  # two colours: colour not counted
        "",  # nothing named
        "a yellow square moves right",  # wrong shape
    ]
    assert attribute_accuracy(preds, refs) == {"colour": 0.5, "shape": 0.5, "direction": 0.75, "exact": 0.25}


@pytest.mark.parametrize("preds, refs", [(["a red circle moves left"], []), ([], [])])
def test_attribute_accuracy_rejects_bad_lengths(preds, refs):
    with pytest.raises(ValueError):
        attribute_accuracy(preds, refs)


def test_bundled_test_videos_are_the_seed_0_test_split(tmp_path):
    """test_videos/ is exactly `make_split(..., "test", 48, seed=0)`: anyone can regenerate it byte for byte."""
    from pathlib import Path

    bundled = Path(__file__).resolve().parents[2] / "test_videos"
    made = make_split(tmp_path, "test", count=48, seed=0).parent
    assert (made / "captions.csv").read_text() == (bundled / "captions.csv").read_text()
    for clip in sorted(bundled.glob("*.mp4")):
        assert (made / clip.name).read_bytes() == clip.read_bytes(), clip.name
