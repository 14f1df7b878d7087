"""Cut a video into shot clips with PyAV, and find shot boundaries in videos that have no annotations.

Shot2Story names a shot `{clip}_{startframe}_{endframe}.mp4` and cuts it with `ffmpeg -ss START/fps -t DUR`: here a
shot is frames [start, end) of the source — `end - start` frames, end exclusive — counted as `load_video` counts.
A cut that starts on a keyframe and ends on one (or at the end) is a stream copy: the shot's frames are the source's,
bit for bit. Any other cut is re-encoded (H.264, near-lossless) from exactly those frames, with their timestamps.

`detect_shots` is a simple content detector, like PySceneDetect's ContentDetector: a cut where consecutive small
frames differ by more than `threshold` (mean absolute RGB difference, 0-255), at least `min_frames` apart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

SHOT_NAME = re.compile(r"^(?P<clip>.+)_(?P<start>\d+)_(?P<end>\d+)\.mp4$")


@dataclass
class Shot:
    """A cut shot: where it came from and how it was made ("copy" or "encode")."""

    path: Path
    source: str
    start: int
    end: int
    method: str


def shot_name(clip: str, start: int, end: int) -> str:
    """Shot2Story's file name for frames [start, end) of `clip`."""
    return f"{clip}_{start}_{end}.mp4"


def parse_shot_name(name: str) -> tuple[str, int, int]:
    """(clip, start, end) from a Shot2Story shot file name such as `abc_12_80.mp4`."""
    match = SHOT_NAME.match(Path(name).name)
    if not match:
        raise ValueError(f"{name!r} is not a shot name of the form CLIP_STARTFRAME_ENDFRAME.mp4")
    return match["clip"], int(match["start"]), int(match["end"])


def cut_shot(video, output, start: int | None = None, end: int | None = None,
             start_s: float | None = None, end_s: float | None = None, crf: int = 12) -> Shot:
    """Write frames [start, end) of `video` (or the frames shown in [start_s, end_s) seconds) to `output` (MP4).

    Stream copy when the cut falls on keyframes, re-encoding otherwise. Writes to a temporary name first, so an
    interrupted cut never leaves a half-written shot under the final name.
    """
    import av

    from vidlm.video.decode import VideoDecodeError
    from vidlm.video.index import scan_packets

    video, output = os.fspath(video), Path(output)
    table = scan_packets(video) if os.path.isfile(video) else None
    if table is None:
        raise VideoDecodeError(video, "no such file")
    if not table.trusted:
        raise VideoDecodeError(video, "its timestamps are missing or repeated: cannot locate frames to cut")
    total = len(table.pts)
    if start_s is not None or end_s is not None:
        if start is not None or end is not None:
            raise ValueError("give frames (start, end) or seconds (start_s, end_s), not both")
        times = table.times()
        start = int(np.searchsorted(times, (start_s or 0.0) - 1e-6))
        end = total if end_s is None else int(np.searchsorted(times, end_s - 1e-6))
    start = 0 if start is None else start
    end = total if end is None else end
    if not 0 <= start < end <= total:
        raise ValueError(f"{video}: cannot cut frames [{start}, {end}); the video has {total} frames")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial.mp4")
    try:
        if _copyable(table, start, end):
            _copy_packets(video, partial, table, start, end)
            method = "copy"
        else:
            _encode_frames(video, partial, table, start, end, crf)
            method = "encode"
        os.replace(partial, output)
    except av.FFmpegError as err:
        raise VideoDecodeError(video, f"cannot cut frames [{start}, {end}): {err}") from err
    finally:
        partial.unlink(missing_ok=True)
    return Shot(output, video, start, end, method)


def _copyable(table, start: int, end: int) -> bool:
    """True when frames [start, end) are exactly the packets between two keyframes (closed GOPs, no strays)."""
    first = int(table.decode_pos[start])
    if table.seek_from[start] != first:  # frame `start` is not itself a keyframe
        return False
    stop = int(table.decode_pos[end]) if end < len(table.pts) else len(table.packet_pts)
    if end < len(table.pts) and table.seek_from[end] != stop:
        return False
    inside = table.packet_pts[first:stop]
    return len(inside) == end - start and inside.min() == table.pts[start] and inside.max() == table.pts[end - 1]


def _copy_packets(video: str, output: Path, table, start: int, end: int) -> None:
    import av

    first = int(table.decode_pos[start])
    stop = int(table.decode_pos[end]) if end < len(table.pts) else len(table.packet_pts)
    offset = int(table.pts[start])
    with av.open(video) as source, av.open(str(output), "w", format="mp4") as target:
        stream = source.streams.video[0]
        out = target.add_stream_from_template(stream)
        position = 0
        for packet in source.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            if first <= position < stop:
                packet.pts -= offset
                packet.dts = packet.dts - offset if packet.dts is not None else None
                packet.stream = out
                target.mux(packet)
            position += 1
            if position >= stop:
                break


def _encode_frames(video: str, output: Path, table, start: int, end: int, crf: int) -> None:
    import av

    from vidlm.video.decode import load_video

    clip = load_video(video, indices=list(range(start, end)))
    time_base = table.time_base
    with av.open(str(output), "w") as target:
        rate = Fraction(table.fps).limit_denominator(100000) if table.fps else Fraction(25)
        stream = target.add_stream("libx264", rate=rate)
        height, width = clip.frames.shape[1:3]
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"crf": str(crf), "preset": "fast"}
        for k, rgb in zip(clip.indices, clip.frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: stream.height, : stream.width]),
                                               format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = int(table.pts[k] - table.pts[start]), time_base
            target.mux(stream.encode(frame))
        target.mux(stream.encode())


def detect_shots(video, threshold: float = 30.0, min_frames: int = 8, size: int = 32) -> list[tuple[int, int]]:
    """Shot boundaries as frame ranges [(0, a), (a, b), ...] covering the whole video (end exclusive).

    threshold: mean absolute RGB difference between consecutive frames (downscaled to `size` px) that marks a cut.
    min_frames: the shortest shot; a cut closer than this to the previous one is ignored (flashes, fast motion).
    """
    from vidlm.video.decode import load_video

    total = load_video(video, indices=[0], size=size).total_frames
    frames = load_video(video, indices=list(range(total)), size=size).frames.astype(np.int16)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i -> i + 1
    cuts, last = [], 0
    for i in np.nonzero(change > threshold)[0]:
        if i + 1 - last >= min_frames:
            cuts.append(int(i + 1))
            last = int(i + 1)
    bounds = [0, *cuts, total]
    return list(zip(bounds[:-1], bounds[1:]))


def cut_shots(video, output_dir, shots: list[tuple[int, int]] | None = None, clip: str | None = None) -> list[Shot]:
    """Cut every shot (detected when not given) into `output_dir`, Shot2Story-named; existing shots are kept, so an
    interrupted run resumes where it stopped."""
    clip = clip or Path(video).stem
    shots = detect_shots(video) if shots is None else shots
    done = []
    for start, end in shots:
        target = Path(output_dir) / shot_name(clip, start, end)
        if target.exists():
            done.append(Shot(target, os.fspath(video), start, end, "existing"))
        else:
            done.append(cut_shot(video, target, start, end))
    return done
