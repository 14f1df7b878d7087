from fractions import Fraction

import av
import numpy as np
import pytest

import helpers.hostile_videos as hv
from vidlm.video.shots import cut_shot, cut_shots, detect_shots, parse_shot_name, shot_name
from vidlm.video.decode import VideoDecodeError, load_video


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot_sources")
    return {name: hv.write_case(name, folder) for name in ("cfr_mp4", "ntsc_bframes_mp4", "bframes_mkv", "vfr_mp4")}


def all_frames(path):
    total = load_video(path, indices=[0]).total_frames
    return load_video(path, indices=list(range(total)))


@pytest.mark.parametrize("name, start, end", [("cfr_mp4", 12, 36), ("ntsc_bframes_mp4", 30, 90),
                                              ("bframes_mkv", 20, 40), ("vfr_mp4", 10, 30)])
def test_cuts_on_keyframes_are_stream_copies_with_the_same_frames(sources, tmp_path, name, start, end):
    shot = cut_shot(sources[name], tmp_path / shot_name("clip", start, end), start, end)
    assert shot.method == "copy" and shot.path.name == f"clip_{start}_{end}.mp4"
    got = all_frames(shot.path)
    source = load_video(sources[name], indices=list(range(start, end)))
    np.testing.assert_array_equal(got.frames, source.frames)  # the same packets decode to the same pixels
    np.testing.assert_allclose(got.timestamps, source.timestamps - source.timestamps[0], atol=1e-4)


@pytest.mark.parametrize("name, start, end", [("cfr_mp4", 5, 20), ("ntsc_bframes_mp4", 31, 47), ("vfr_mp4", 3, 17)])
def test_cuts_between_keyframes_are_reencoded_from_exactly_those_frames(sources, tmp_path, name, start, end):
    shot = cut_shot(sources[name], tmp_path / "shot.mp4", start, end)
    assert shot.method == "encode"
    got = all_frames(shot.path)
    every = all_frames(sources[name]).frames.astype(int)
    assert got.total_frames == end - start
    for k, frame in enumerate(got.frames.astype(int)):
        distances = np.abs(every - frame).mean(axis=(1, 2, 3))
        assert distances.argmin() == start + k and distances[start + k] < 3  # near-lossless, and the right frame
    source_times = load_video(sources[name], indices=list(range(start, end))).timestamps
    np.testing.assert_allclose(got.timestamps, source_times - source_times[0], atol=1e-3)


def test_cut_by_seconds_and_bad_ranges(sources, tmp_path):
    shot = cut_shot(sources["cfr_mp4"], tmp_path / "s.mp4", start_s=0.48, end_s=1.44)  # 25 fps: frames 12..35
    assert (shot.start, shot.end, shot.method) == (12, 36, "copy")
    with pytest.raises(ValueError, match="has 60 frames"):
        cut_shot(sources["cfr_mp4"], tmp_path / "x.mp4", 50, 70)
    with pytest.raises(VideoDecodeError, match="no such file"):
        cut_shot(tmp_path / "missing.mp4", tmp_path / "x.mp4", 0, 5)
    assert not (tmp_path / "x.mp4").exists() and not list(tmp_path.glob("*.partial*"))


def test_shot_names_round_trip():
    assert shot_name("W7KJgLwB", 0, 120) == "W7KJgLwB_0_120.mp4"
    assert parse_shot_name("some/dir/a_b_12_80.mp4") == ("a_b", 12, 80)
    with pytest.raises(ValueError, match="CLIP_STARTFRAME_ENDFRAME"):
        parse_shot_name("clip.mp4")


def write_three_scenes(path, lengths=(20, 14, 26)):
    """Three shots: each its own background colour with a square sliding across it."""
    backgrounds = [(200, 40, 40), (30, 160, 60), (40, 60, 200)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        k = 0
        for colour, length in zip(backgrounds, lengths):
            for i in range(length):
                rgb = np.empty((48, 64, 3), np.uint8)
                rgb[:] = colour
                rgb[16:32, 2 * i % 48: 2 * i % 48 + 16] = 255
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = k, Fraction(1, 25)
                container.mux(stream.encode(frame))
                k += 1
        container.mux(stream.encode())
    return path


def test_detect_shots_finds_the_cuts_and_cut_shots_resumes(tmp_path):
    video = write_three_scenes(tmp_path / "three.mp4")
    assert detect_shots(video) == [(0, 20), (20, 34), (34, 60)]
    first = cut_shots(video, tmp_path / "shots")
    assert [s.path.name for s in first] == ["three_0_20.mp4", "three_20_34.mp4", "three_34_60.mp4"]
    assert [all_frames(s.path).total_frames for s in first] == [20, 14, 26]
    (tmp_path / "shots" / "three_20_34.mp4").unlink()  # as if interrupted before this one
    again = cut_shots(video, tmp_path / "shots")
    assert [s.method for s in again] == ["existing", first[1].method, "existing"]
