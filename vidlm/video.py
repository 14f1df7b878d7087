"""Sample frames from a video file with PyAV.

`load_video` returns a `VideoClip`: uniformly sampled RGB uint8 frames, the 0-based presentation-order index of each
(counted the way ffmpeg's `select=eq(n\\,K)` counts) and its timestamp in seconds. Anything that cannot be read
raises `VideoDecodeError` naming the file.

This version decodes in one sequential pass and converts only the wanted frames to RGB. The frame count comes from
counting the stream's packets, not from `stream.frames` (PyAV reports 0 for WebM, MKV and MPEG-TS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


class VideoDecodeError(RuntimeError):
    """A video could not be read; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class VideoClip:
    """Frames sampled from one video, with where they came from."""

    path: str
    frames: np.ndarray  # uint8 [T, H, W, 3], RGB
    indices: np.ndarray  # int64 [T], 0-based presentation-order frame index
    timestamps: np.ndarray  # float64 [T], seconds from the start of the stream
    fps: float
    duration: float  # seconds
    total_frames: int  # frames actually decodable in the video


def uniform_indices(total: int, num_frames: int) -> np.ndarray:
    """The centre frame of each of `num_frames` equal segments of `total` frames (repeats when total < num_frames)."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return ((np.arange(num_frames) + 0.5) * total / num_frames).astype(np.int64)


def load_video(path, num_frames: int = 8) -> VideoClip:
    """Uniformly sample `num_frames` RGB frames from the video at `path`.

    >>> clip = load_video("test_videos/test_0000.mp4", num_frames=4)
    >>> clip.frames.shape, clip.indices.tolist()
    ((4, 64, 64, 3), [2, 6, 10, 14])
    """
    import av

    path = os.fspath(path)
    if not isinstance(num_frames, int) or num_frames <= 0:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            total = sum(1 for packet in container.demux(stream) if packet.size > 0)
            if total == 0:
                raise VideoDecodeError(path, "the video stream has no frames")
            wanted = uniform_indices(total, num_frames)
            frames, times, decoded = _decode_wanted(container, stream, wanted)
            if 0 < decoded < total:  # fewer frames than packets (a damaged tail): sample among those that decode
                total = decoded
                wanted = uniform_indices(total, num_frames)
                frames, times, _ = _decode_wanted(container, stream, wanted)
            duration = float(stream.duration * stream.time_base) if stream.duration else (total / rate if rate else 0.0)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:  # PyAV raises these for damaged or foreign files
        raise VideoDecodeError(path, f"cannot decode: {err}") from err
    if decoded == 0:
        raise VideoDecodeError(path, "no frame could be decoded")
    return VideoClip(
        path=path,
        frames=np.stack([frames[int(i)] for i in wanted]),
        indices=wanted,
        timestamps=np.array([times[int(i)] for i in wanted], dtype=np.float64),
        fps=float(rate),
        duration=float(duration),
        total_frames=total,
    )


def _decode_wanted(container, stream, wanted: np.ndarray):
    """One sequential pass from the start; RGB arrays and timestamps of the wanted indices, and how many decoded."""
    container.seek(0)
    wanted_set = set(wanted.tolist())
    start = stream.start_time or 0
    frames, times, n = {}, {}, 0
    for frame in container.decode(stream):
        if n in wanted_set:
            frames[n] = frame.to_ndarray(format="rgb24")
            times[n] = float((frame.pts - start) * stream.time_base) if frame.pts is not None else float("nan")
        n += 1
    return frames, times, n
