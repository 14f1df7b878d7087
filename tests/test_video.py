import av
import numpy as np
import pytest

import vidlm
from vidlm.video import load_video, uniform_indices

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
