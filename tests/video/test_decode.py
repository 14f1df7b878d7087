from pathlib import Path

import av
import numpy as np
import pytest

import vidlm
from vidlm.video.decode import load_video, uniform_indices

from conftest import FPS, NUM_FRAMES, grey_level


def assert_frames_are(frames, indices):
    """Each frame is uniformly the grey of its index (H.264 at crf 12 moves levels by a few)."""
    for frame, k in zip(frames, indices):
        assert np.abs(frame.astype(int) - grey_level(int(k))).max() <= 4, f"frame {k}"


def test_load_video_samples_the_right_frames(grey_video):
    clip = load_video(grey_video, num_frames=4)
    assert clip.frames.dtype == np.uint8
    assert clip.frames.shape == (4, 64, 64, 3)
    assert clip.indices.tolist() == [2, 6, 10, 14] == uniform_indices(NUM_FRAMES, 4).tolist()
    assert_frames_are(clip.frames, clip.indices)
    np.testing.assert_allclose(clip.timestamps, clip.indices / FPS, atol=1e-6)
    assert clip.fps == FPS
    assert clip.duration == pytest.approx(NUM_FRAMES / FPS)
    assert clip.total_frames == NUM_FRAMES
    assert clip.path == str(grey_video)


def test_load_video_repeats_frames_when_asking_for_more_than_there_are(grey_video):
    clip = load_video(grey_video, num_frames=20)
    assert clip.frames.shape == (20, 64, 64, 3)
    assert clip.indices.tolist() == uniform_indices(NUM_FRAMES, 20).tolist()
    assert clip.indices.tolist()[:4] == [0, 1, 2, 2]
    assert_frames_are(clip.frames, clip.indices)
    np.testing.assert_allclose(clip.timestamps, clip.indices / FPS, atol=1e-6)


def test_uniform_indices_centres_of_segments():
    assert uniform_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert uniform_indices(10, 1).tolist() == [5]
    assert uniform_indices(2, 4).tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("total, num_frames", [(0, 4), (-1, 4), (16, 0), (16, -2)])
def test_uniform_indices_rejects_non_positive(total, num_frames):
    with pytest.raises(ValueError):
        uniform_indices(total, num_frames)


def write_audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 800
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def make_bad_file(kind, tmp_path, grey_video):
    path = tmp_path / f"{kind}.mp4"
    if kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "truncated":
        path.write_bytes(grey_video.read_bytes()[:300])
    elif kind == "audio_only":
        path = tmp_path / "audio.wav"
        write_audio_only(path)
    return path  # "missing": never written


@pytest.mark.parametrize("kind", ["missing", "zero_bytes", "text", "truncated", "audio_only"])
def test_unreadable_files_raise_video_decode_error_naming_the_file(kind, tmp_path, grey_video):
    path = make_bad_file(kind, tmp_path, grey_video)
    with pytest.raises(vidlm.VideoDecodeError) as info:
        load_video(path, num_frames=4)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_bad_num_frames_is_a_value_error_not_a_decode_error(grey_video, bad):
    with pytest.raises(ValueError, match="num_frames must be a positive integer") as err:
        load_video(grey_video, num_frames=bad)
    assert not isinstance(err.value, vidlm.VideoDecodeError)


# --- frame-exact against the ffmpeg CLI, on videos that break naive samplers --------------------------------------

import subprocess  # noqa: E402

import helpers.hostile_videos as hv  # noqa: E402


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return {name: hv.write_case(name, folder) for name in hv.CASES}


def reference_for(clip, name):
    """ffmpeg's frames for the clip's indices, in the clip's order (repeats included)."""
    width, height = (hv.HEIGHT, hv.WIDTH) if hv.CASES[name][5] % 180 else (hv.WIDTH, hv.HEIGHT)
    frames = hv.ffmpeg_frames(clip.path, clip.indices, width, height)
    return frames[np.searchsorted(np.unique(clip.indices), clip.indices)]


@pytest.mark.parametrize("name", list(hv.CASES))
@pytest.mark.parametrize("mode", ["auto", "seek", "sequential"])
@pytest.mark.parametrize("num_frames", [3, 32])
def test_frames_equal_ffmpeg_decode_of_the_same_index(hostile, name, mode, num_frames):
    path = hostile[name]
    clip = load_video(path, num_frames=num_frames, mode=mode)
    total = hv.ffmpeg_frame_count(path)
    assert clip.total_frames == total == hv.CASES[name][3]
    assert clip.indices.tolist() == uniform_indices(total, num_frames).tolist()
    np.testing.assert_array_equal(clip.frames, reference_for(clip, name))
    np.testing.assert_allclose(clip.timestamps, hv.ffprobe_times(path)[clip.indices], atol=1e-6)


def test_the_plan_seeks_where_it_pays_and_reads_on_where_it_does_not(hostile):
    few = load_video(hostile["cfr_mp4"], indices=[5, 50])  # keyframes every 12: two short seeks
    assert few.read == {"plan": "auto", "seeks": 1, "packets": few.read["packets"], "decoded": few.read["decoded"],
                        "index": "lazy", "threads": 1}
    assert few.read["decoded"] < 20
    one_gop = load_video(hostile["long_gop_mp4"], num_frames=3)  # one keyframe: seeking cannot help
    assert one_gop.read["seeks"] == 0
    assert load_video(hostile["h264_ts"], num_frames=3).read["plan"] == "forward"  # TS seeks are not index-exact


def test_ntsc_and_vfr_timestamps_are_exact(hostile):
    ntsc = load_video(hostile["ntsc_bframes_mp4"], indices=[0, 1, 89])
    np.testing.assert_allclose(ntsc.timestamps, np.array([0, 1001, 89 * 1001]) / 30000, atol=1e-9)
    assert ntsc.fps == pytest.approx(30000 / 1001)
    vfr = load_video(hostile["vfr_mp4"], indices=list(range(40)))
    np.testing.assert_allclose(vfr.timestamps, np.array(hv.vfr_pts(40)) / 1000, atol=1e-9)


def test_rotation_metadata_gives_upright_frames(hostile):
    clip = load_video(hostile["rotated_mp4"], indices=[3])
    assert clip.frames.shape == (1, hv.WIDTH, hv.HEIGHT, 3)  # stored 96x64 landscape, shown 64x96 portrait
    np.testing.assert_array_equal(clip.frames[0], np.rot90(load_frame_unrotated(hostile["rotated_mp4"], 3)))


def load_frame_unrotated(path, k):
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == k:
                return frame.to_ndarray(format="rgb24")


# --- sampling strategies ------------------------------------------------------------------------------------------

def test_fps_sampling_takes_the_frame_on_screen_at_each_tick(hostile):
    path = hostile["ntsc_bframes_mp4"]  # 90 frames at 29.97 fps: 3.003 s
    clip = load_video(path, fps=2.0, num_frames=32)
    times = hv.ffprobe_times(path)
    ticks = np.arange(len(clip.indices)) / 2.0
    assert len(clip.indices) == 6  # ticks 0, 0.5, ..., 2.5 s (the last frame starts at 2.97 s)
    for tick, k in zip(ticks, clip.indices):
        assert times[k] <= tick + 1e-9 and (k + 1 == len(times) or times[k + 1] > tick)
    capped = load_video(path, fps=2.0, num_frames=3)
    assert capped.indices.tolist() == clip.indices[uniform_indices(6, 3)].tolist()


def test_timestamp_sampling_on_variable_frame_rate(hostile):
    path = hostile["vfr_mp4"]
    times = np.array(hv.vfr_pts(40)) / 1000
    asked = [0.0, times[5] - 0.001, times[5], times[5] + 0.001, times[-1]]
    clip = load_video(path, timestamps=asked)
    assert clip.indices.tolist() == [0, 4, 5, 5, 39]
    np.testing.assert_array_equal(clip.frames, reference_for(clip, "vfr_mp4"))
    assert clip.timestamp_text(3) == ", ".join(f"{t:.3f} s" for t in times[[0, 4, 5, 5, 39]])


def test_window_sampling_stays_inside_the_shot(hostile):
    path = hostile["cfr_mp4"]  # 25 fps: frame k at k / 25 s
    clip = load_video(path, num_frames=4, window=(1.0, 2.0))  # frames 25..49
    assert clip.indices.tolist() == (25 + uniform_indices(25, 4)).tolist()
    np.testing.assert_array_equal(clip.frames, reference_for(clip, "cfr_mp4"))
    by_rate = load_video(path, fps=5, num_frames=100, window=(1.0, 2.0))
    assert by_rate.indices.tolist() == [25, 30, 35, 40, 45]


@pytest.mark.parametrize("kwargs, message", [
    ({"indices": [0, 60]}, "out of range"),
    ({"timestamps": [-1.0]}, "outside the video"),
    ({"timestamps": [10.0]}, "outside the video"),
    ({"window": (5.0, 6.0)}, "no frame is shown in the window"),
])
def test_sampling_outside_the_video_names_the_file(hostile, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        load_video(hostile["cfr_mp4"], **kwargs)
    assert str(hostile["cfr_mp4"]) in str(info.value)


@pytest.mark.parametrize("kwargs", [{"fps": 1, "indices": [0]}, {"window": (2, 1)}, {"fps": 0}, {"size": 0},
                                    {"size": (10,)}, {"mode": "fast"}, {"indices": [1], "window": (0, 1)}])
def test_contradictory_sampling_arguments_are_rejected(hostile, kwargs):
    with pytest.raises(ValueError):
        load_video(hostile["cfr_mp4"], **kwargs)


def test_resizing_while_decoding(hostile):
    short = load_video(hostile["cfr_mp4"], indices=[10], size=32)  # shorter side 64 -> 32, aspect kept
    assert short.frames.shape == (1, 32, 48, 3)
    scaled = subprocess.run(["ffmpeg", "-v", "error", "-i", str(hostile["cfr_mp4"]), "-vf",
                             "select=eq(n\\,10),scale=48:32:flags=area", "-fps_mode", "passthrough", "-f", "rawvideo",
                             "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(scaled, np.uint8).reshape(32, 48, 3)
    # swscale resizes the YUV planes and converts in one step here, ffmpeg's filter graph in two: close, not equal
    assert np.abs(short.frames[0].astype(int) - reference).mean() < 2.0
    exact = load_video(hostile["cfr_mp4"], indices=[10], size=(20, 30))
    assert exact.frames.shape == (1, 20, 30, 3)
    upright = load_video(hostile["rotated_mp4"], indices=[3], size=32)  # portrait 64x96 -> 32x48
    assert upright.frames.shape == (1, 48, 32, 3)


# --- damaged files: an error naming the file, or frames indexed as ffmpeg indexes them ----------------------------

def damaged(kind, folder, hostile) -> Path:
    source = hostile["bframes_mkv" if kind == "garbage_mkv" else "h264_ts" if kind == "garbage_ts" else
                     "ntsc_bframes_mp4"]
    data = bytearray(source.read_bytes())
    if kind in ("truncated_faststart", "garbage_mp4"):
        faststart = folder / "faststart.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", "-movflags", "+faststart",
                        str(faststart)], check=True)
        data = bytearray(faststart.read_bytes())
    if kind == "truncated_faststart":
        data = data[: len(data) // 2]
    elif kind.startswith("garbage"):
        middle = len(data) // 2
        data[middle:middle + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = folder / f"{kind}{source.suffix}"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["truncated_faststart", "garbage_mp4", "garbage_mkv", "garbage_ts"])
@pytest.mark.parametrize("mode", ["auto", "seek", "sequential"])
def test_partly_decodable_files_give_the_frames_ffmpeg_gives(kind, mode, tmp_path, hostile):
    path = damaged(kind, tmp_path, hostile)
    total = hv.ffmpeg_frame_count(path)
    clip = load_video(path, num_frames=8, mode=mode)
    assert 0 < clip.total_frames == total < 90
    assert clip.indices.tolist() == uniform_indices(total, 8).tolist()
    reference = hv.ffmpeg_frames(path, clip.indices).astype(int)
    # Frames the decoder had to conceal errors in depend on its threading (ffmpeg's CLI runs 3 threads here), so
    # damaged frames are compared loosely; every other frame is bit-identical to ffmpeg's.
    difference = np.abs(clip.frames.astype(int) - reference).mean(axis=(1, 2, 3))
    assert (difference < 1.0).all(), difference
    assert (difference == 0).sum() >= 6, difference
    last = load_video(path, indices=[total - 1], mode=mode)  # the last frame that decodes is there to ask for
    assert np.abs(last.frames[0].astype(int) - hv.ffmpeg_frames(path, [total - 1])[0]).mean() < 1.0


def test_truncated_mp4_without_its_index_is_a_decode_error(tmp_path, hostile):
    path = tmp_path / "cut.mp4"
    data = hostile["ntsc_bframes_mp4"].read_bytes()
    path.write_bytes(data[: len(data) // 2])  # PyAV writes the index (moov) at the end: gone
    with pytest.raises(vidlm.VideoDecodeError, match="cannot decode") as info:
        load_video(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["cfr_mp4", "ntsc_bframes_mp4", "long_gop_mp4", "vfr_mp4", "rotated_mp4"])
def test_mp4_index_read_lazily_gives_what_the_full_packet_table_gives(hostile, name):
    for num_frames in (1, 5, 40):
        lazy = load_video(hostile[name], num_frames=num_frames)
        full = load_video(hostile[name], num_frames=num_frames, mode="seek")
        assert (lazy.read["index"], full.read["index"]) == ("lazy", "full")
        np.testing.assert_array_equal(lazy.frames, full.frames)
        np.testing.assert_array_equal(lazy.indices, full.indices)
        np.testing.assert_allclose(lazy.timestamps, full.timestamps, atol=1e-9)
        assert (lazy.total_frames, lazy.fps) == (full.total_frames, full.fps)
        assert lazy.duration == pytest.approx(full.duration, abs=1e-6)


def test_an_open_gop_mp4_is_caught_and_read_with_the_full_table(hostile):
    clip = load_video(hostile["open_gop_mp4"], num_frames=3)  # its I-frames have B-frames shown before them
    assert clip.read["index"] == "full"
    np.testing.assert_array_equal(clip.frames, hv.ffmpeg_frames(clip.path, clip.indices))


# --- paths that exist but are not regular files ----------------------------------------------------------------

@pytest.mark.parametrize("kind, described", [("fifo", "a named pipe"), ("folder", "a folder"),
                                             ("dev_zero", "a character device")])
def test_a_path_that_is_not_a_regular_file_says_so_without_blocking(kind, described, tmp_path):
    import os
    import threading

    path = {"fifo": tmp_path / "pipe.mp4", "folder": tmp_path / "clips.mp4", "dev_zero": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif kind == "folder":
        path.mkdir()
    outcome = {}

    def read():
        try:
            load_video(path, num_frames=2)
        except vidlm.VideoDecodeError as err:
            outcome["error"] = err

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(20)
    blocked = reader.is_alive()
    if blocked and kind == "fifo":
        with open(path, "wb"):  # release the blocked reader so the test process can end
            pass
    assert not blocked, f"load_video blocked on {described}"
    assert str(outcome["error"]) == f"{path}: is not a regular file ({described})"


# --- speed without giving up exactness: threads, draining, the probe -------------------------------------------

def test_decode_threads_follow_the_shape_of_the_read():
    from vidlm.video.decode import decode_threads

    assert decode_threads(1920, 1080, 4, 16) == 1  # short runs between seeks: a frame-thread pipeline only refills
    assert decode_threads(1920, 1080, 200, 1) == 1  # no free core: nothing to share
    assert decode_threads(640, 360, 200, 16) == 1  # small frames: one thread was faster even on long runs
    assert decode_threads(1920, 1080, 120, 2) == 2  # long runs of large frames: every core
    assert decode_threads(1280, 720, 60, 2) == 2
    assert decode_threads(1920, 1080, 120, 16) > 2  # more cores, more threads, when the runs are long enough
    assert decode_threads(1920, 1080, 10_000, 64) == decode_threads(1920, 1080, 10_000, 128)  # a cap


def test_a_read_decodes_nothing_after_the_packet_of_its_last_wanted_frame(hostile):
    from vidlm.video.index import scan_packets

    path = hostile["ntsc_bframes_mp4"]  # B-frames: a frame comes out of the decoder packets after its own
    table = scan_packets(str(path))
    for k in (10, 44, 88):
        clip = load_video(path, indices=[k])
        # From its keyframe up to frame k's own packet, no further: then the decoder is drained, not fed until k
        # comes out of its reorder buffer.
        packets = table.decode_pos[k] + 1 - table.seek_from[k]
        assert clip.read["packets"] == packets, (k, clip.read)
        assert clip.read["decoded"] <= packets
        np.testing.assert_array_equal(clip.frames, reference_for(clip, "ntsc_bframes_mp4"))


@pytest.fixture(scope="module")
def long_gop_720p(tmp_path_factory):
    return hv.write_long_video(tmp_path_factory.mktemp("hd") / "gop60_720p.mp4", 5, 30, 60, 2, 1280, 720)


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_frames_equal_ffmpeg_at_720p_with_b_frames_and_long_gops_on_any_threads(long_gop_720p, threads, monkeypatch):
    import vidlm.video.decode as decode

    monkeypatch.setattr(decode, "DECODE_THREADS", threads)
    monkeypatch.setattr(decode, "available_cores", lambda: 2)  # as if the machine were idle
    reference = hv.ffmpeg_frames(long_gop_720p, None, 1280, 720)
    assert len(reference) == 150
    for kwargs in ({"num_frames": 8}, {"num_frames": 32}, {"indices": [0, 59, 60, 61, 149]}, {"fps": 3.0}):
        for mode in ("auto", "seek"):
            clip = load_video(long_gop_720p, mode=mode, **kwargs)
            np.testing.assert_array_equal(clip.frames, reference[clip.indices], err_msg=f"{kwargs} {mode}")
            if threads:
                assert clip.read["threads"] == threads
    auto = load_video(long_gop_720p, num_frames=32)
    assert auto.read["index"] == "lazy" and (threads or auto.read["threads"] == 2)  # long runs of 720p frames


def test_the_index_open_skips_the_probe_decode_but_frames_match(hostile):
    from vidlm.video.index import MovIndex

    index = MovIndex.open(str(hostile["cfr_mp4"]))
    try:
        assert index.container.streams.video[0].codec_context.format is None  # the probe decoded no frame
    finally:
        index.close()
    assert index.container is None
    clip = load_video(hostile["cfr_mp4"], num_frames=5)
    np.testing.assert_array_equal(clip.frames, reference_for(clip, "cfr_mp4"))


def test_the_nal_check_finds_a_sample_that_does_not_split(tmp_path, hostile):
    from vidlm.video.index import samples_well_formed

    data = bytes([0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7]) + bytes([0, 0, 0, 5, 1])  # two good NAL units; one cut short
    path = tmp_path / "nal.bin"
    path.write_bytes(data)
    assert samples_well_formed(path, np.array([0]), np.array([11]), 4)
    assert not samples_well_formed(path, np.array([0, 11]), np.array([11, 5]), 4)
    assert samples_well_formed(path, np.array([0, 6]), np.array([6, 5]), 4)
