"""Videos that break naive frame samplers, written with PyAV, and the ffmpeg CLI's decode of them (the reference).

Every frame is distinct (a colour and a bar position that depend on its index), so a frame returned for the wrong
index differs from the reference by far more than codec or colour-conversion rounding.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT = 96, 64


def distinct_frame(k: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Frame k: a background colour and a vertical bar position that both change with k."""
    rng = np.random.default_rng(k)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = rng.integers(30, 226, size=3, dtype=np.uint8)
    x = (k * 7) % (width - 8)
    frame[:, x:x + 8] = 255 - frame[0, 0]
    frame[: height // 4, : width // 4] = (k * 37) % 256  # a top-left block whose level changes every frame
    return frame


# name: (file suffix, codec, frame rate or None for VFR, frames, x264/vpx options, display rotation)
CASES = {
    "cfr_mp4": (".mp4", "libx264", Fraction(25), 60, {"x264-params": "keyint=12:min-keyint=12:bframes=0:scenecut=0"}, 0),
    "ntsc_bframes_mp4": (".mp4", "libx264", Fraction(30000, 1001), 90,
                         {"x264-params": "keyint=30:min-keyint=30:bframes=3:b-pyramid=normal:scenecut=0"}, 0),
    "long_gop_mp4": (".mp4", "libx264", Fraction(30), 150, {"x264-params": "keyint=150:bframes=2:scenecut=0"}, 0),
    "vfr_mp4": (".mp4", "libx264", None, 40, {"x264-params": "keyint=10:bframes=2:scenecut=0"}, 0),
    "bframes_mkv": (".mkv", "libx264", Fraction(24), 60, {"x264-params": "keyint=20:bframes=3:scenecut=0"}, 0),
    # b-adapt=0 keeps 3 B-frames everywhere, so I-frames get leading B-frames shown before them (a truly open GOP)
    "open_gop_mkv": (".mkv", "libx264", Fraction(25), 60,
                     {"x264-params": "keyint=16:min-keyint=16:bframes=3:b-adapt=0:open-gop=1:scenecut=0"}, 0),
    "open_gop_mp4": (".mp4", "libx264", Fraction(25), 60,
                     {"x264-params": "keyint=16:min-keyint=16:bframes=3:b-adapt=0:open-gop=1:scenecut=0"}, 0),
    "vp9_webm": (".webm", "libvpx-vp9", Fraction(30), 45, {"g": "15", "deadline": "realtime", "cpu-used": "8"}, 0),
    "h264_ts": (".ts", "libx264", Fraction(30000, 1001), 60, {"x264-params": "keyint=15:bframes=2:scenecut=0"}, 0),
    "rotated_mp4": (".mp4", "libx264", Fraction(25), 20, {"x264-params": "keyint=10:bframes=0"}, 90),
}


def vfr_pts(count: int) -> list[int]:
    """Irregular presentation times in milliseconds: gaps of 20, 40 and 100 ms in a repeating, uneven pattern."""
    gaps = [20, 40, 100, 40, 20, 20, 100]
    return np.cumsum([0] + [gaps[i % len(gaps)] for i in range(count - 1)]).tolist()


def write_case(name: str, folder) -> Path:
    """Write the video of case `name` into `folder` and return its path."""
    suffix, codec, rate, count, options, rotation = CASES[name]
    path = Path(folder) / f"{name}{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate or 25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = dict(options)
        if rotation:
            stream.set_display_rotation(rotation)
        time_base = Fraction(1, 1000) if rate is None else 1 / rate
        stream.codec_context.time_base = time_base
        pts = vfr_pts(count) if rate is None else range(count)
        for k, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(distinct_frame(k), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = p, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_long_video(path, seconds: float, fps: int = 30, keyint: int = 60, bframes: int = 2,
                     width: int = 320, height: int = 240) -> Path:
    """A longer H.264 MP4 of moving noise-free content, for benchmarks: `keyint` frames between keyframes."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "x264-params": f"keyint={keyint}:min-keyint={keyint}:"
                                                              f"bframes={bframes}:scenecut=0"}
        base = np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1)
        for k in range(int(seconds * fps)):
            rgb = np.empty((height, width, 3), np.uint8)
            rgb[..., 0] = (base[..., 0] + 3 * k) % 256
            rgb[..., 1] = (base[..., 1] * 2 + k) % 256
            rgb[..., 2] = (k * 5) % 256
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return Path(path)


def ffmpeg_frames(path, indices, width: int | None = None, height: int | None = None) -> np.ndarray:
    """The frames the ffmpeg CLI decodes as `select=eq(n\\,K)` for each K, as RGB uint8 [len(indices), H, W, 3];
    every frame it decodes when `indices` is None.

    ffmpeg rotates by the display matrix itself (autorotate), so pass the upright width and height.
    """
    select = []
    if indices is not None:
        indices = sorted(set(int(k) for k in indices))
        select = ["-vf", "select=" + "+".join(f"eq(n\\,{k})" for k in indices)]
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), *select,
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    if width is None:
        width, height = WIDTH, HEIGHT
    frames = np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)
    if indices is not None and len(frames) != len(indices):
        raise AssertionError(f"ffmpeg returned {len(frames)} frames for indices {indices}")
    return frames


def ffmpeg_frame_count(path) -> int:
    """How many frames the ffmpeg CLI decodes from `path`."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                           check=True)
    return int(probe.stdout.split()[0].split(",")[0])


def ffprobe_times(path) -> np.ndarray:
    """Every frame's presentation time in seconds, from ffprobe, relative to the first frame."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    times = np.array(sorted(float(line.split(",")[0]) for line in out.split()))
    return times - times[0]
