"""Sample frames from a video file with PyAV: frame-exact, fast, and never hanging on a bad file.

`load_video` returns a `VideoClip`: RGB uint8 frames, the 0-based presentation-order index of each (counted the way
ffmpeg's `select=eq(n\\,K)` counts the frames its decoder outputs) and its timestamp in seconds from the first frame.

How it stays exact:
- Frames are indexed from the container's presentation timestamps, read by demuxing the packets (cheap: no
  decoding; for MP4 only the GOPs that hold wanted frames, see `vidlm.video.index`) — never from `stream.frames`
  (0 for WebM, MKV and MPEG-TS) or from a float frame rate (29.97 fps arithmetic lands on the wrong frame;
  variable-frame-rate files have no single rate).
- Frame k is the k-th smallest timestamp. A decoded frame is identified by its own timestamp, so after a seek it
  cannot be mistaken for a neighbour. Where the timestamps cannot be trusted (missing or repeated, or the decoder
  reports an error), vidlm falls back to one sequential pass that counts decoded frames exactly as ffmpeg does.
- A damaged file is counted the same way in every mode: where packets may not all decode (the demuxer stops early or
  flags a packet corrupt, or an H.264/HEVC packet does not split into its NAL units — ffmpeg drops such a frame),
  the packet table over-counts, so `total_frames` and the indices come from decoding. Undamaged files keep the fast
  path (the check reads a few bytes per packet, in numpy: 9 ms of CPU for a 2-minute 1080p MP4, mostly page faults).

How it stays fast: for each request it plans, from the packet table, whether to seek to the keyframe before each
wanted frame or to keep decoding forward (`SEEK_COST_FRAMES`, measured by `benchmarks/bench_video.py`); frames that
nothing refers to and nobody asked for are not decoded; after the packet of a frame that is followed by a seek (or by
nothing), the decoder is drained instead of fed until the frame leaves its reorder buffer; only wanted frames are
converted to RGB, resized by swscale in the same step when `size` is given. An MP4 is opened once per read, without
the stream probe's decode of the first frame. Threads follow the read's shape (`decode_threads`).

Anything that cannot be read raises `VideoDecodeError` naming the file and the reason.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vidlm.video.index import (IndexMismatch, MovIndex, PacketTable, Sampler, VideoDecodeError, scan_packets,
                               uniform_indices)

__all__ = ["VideoClip", "VideoDecodeError", "decode_threads", "load_video", "uniform_indices"]

# Seeking costs about as much as decoding this many frames: the demuxer seek, the decoder flush and refilling the
# frame-threading pipeline. `benchmarks/bench_video.py --calibrate` (2 cores, 640x360 H.264 with B-frames): decoding
# on and seeking cost the same CPU when 5 to 7 frames were to be skipped. The plan seeks only when it skips more.
SEEK_COST_FRAMES = 6

# Decoding threads per read: None chooses them from the read's shape (`decode_threads`); an int forces that many.
DECODE_THREADS = None


def decode_threads(width: int, height: int, frames_per_seek: float, cores: int) -> int:
    """Frame threads for a read decoding `frames_per_seek` packets in a row (on average) of width x height.

    Frame threads decode consecutive frames at once: they pay on long runs of large frames only, as every seek flushes
    their pipeline. Measured on 2 cores (bench_video.py's 2-minute clips, one thread vs two): 640x360 lost on two even
    on runs of 165-195 frames (8 frames, a keyframe every 250: 744 vs 912 ms beside a test suite; 285-303 vs 380-404
    ms idle); 1080p gained 5-11% despite the load. Two threads beside other work lost in 16 of 18 cells: `cores` is
    the free cores (`available_cores`).
    """
    if cores <= 1 or frames_per_seek < THREAD_MIN_RUN or width * height < THREAD_MIN_PIXELS:
        return 1
    return int(min(cores, MAX_DECODE_THREADS, max(2, frames_per_seek // THREAD_MIN_RUN)))


THREAD_MIN_RUN = 8  # packets decoded per seek below which a frame-thread pipeline hardly fills
THREAD_MIN_PIXELS = 1280 * 720  # frames smaller than this decode faster on one thread (640x360 did, every run)
MAX_DECODE_THREADS = 8  # beyond this FFmpeg's frame threads add latency, not speed


def available_cores() -> int:
    """Cores this process may use that other work is not already using: the affinity mask less the one-minute load
    average beyond this process's own share (a data loader's workers, a test suite next door)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        busy = max(0.0, os.getloadavg()[0] - 1)
    except OSError:
        busy = 0.0
    return max(1, int(cores - busy + 0.5))


@dataclass
class VideoClip:
    """Frames sampled from one video, with where they came from."""

    path: str
    frames: np.ndarray  # uint8 [T, H, W, 3], RGB, upright (rotation metadata applied)
    indices: np.ndarray  # int64 [T], 0-based presentation-order frame index
    timestamps: np.ndarray  # float64 [T], seconds from the first frame
    fps: float  # average frame rate as the container states it
    duration: float  # seconds
    total_frames: int  # frames the video decodes to
    read: dict | None = None  # how the frames were read: plan, seeks, packets and frames decoded, index, threads

    def timestamp_text(self, decimals: int = 1) -> str:
        """The sampled times for a prompt: `"0.0 s, 1.5 s, 3.0 s"`."""
        return ", ".join(f"{t:.{decimals}f} s" for t in self.timestamps)


def load_video(path, num_frames: int = 8, *, fps: float | None = None, timestamps=None, indices=None,
               window: tuple[float, float] | None = None, size: int | tuple[int, int] | None = None,
               mode: str = "auto") -> VideoClip:
    """Sample RGB frames from the video at `path`.

    Sampling (one of):
    - uniform (default): `num_frames` frames, the centre of each of `num_frames` equal segments;
    - `fps=r`: one frame every 1/r seconds (LLaVA-NeXT style), at most `num_frames` of them (evenly thinned);
    - `timestamps=[s, ...]`: the frame on screen at each time in seconds;
    - `indices=[k, ...]`: exactly these frame indices.
    `window=(start_s, end_s)` restricts uniform and fps sampling to frames shown in [start_s, end_s) — a shot.
    size: resize while decoding — an int sets the shorter side (aspect kept), `(height, width)` sets both.
    mode: "auto" plans seeks vs one pass; "seek" and "sequential" force one (benchmarks, tests).

    >>> clip = load_video("test_videos/test_0000.mp4", num_frames=4)
    >>> clip.frames.shape, clip.indices.tolist()
    ((4, 64, 64, 3), [2, 6, 10, 14])
    """
    import av

    path = os.fspath(path)
    _check_arguments(num_frames, fps, timestamps, indices, window, size, mode)
    _check_regular_file(path)
    try:
        sample = Sampler(num_frames, fps, timestamps, indices, window, path)
        lazy = MovIndex.open(path) if mode == "auto" and sample.needs_count_only() else None
        if lazy is not None:
            try:
                wanted = sample(np.zeros(len(lazy)))  # uniform or explicit indices: only the count matters
                read = {"plan": "auto", "seeks": 0, "packets": 0, "decoded": 0, "index": "lazy"}
                got = _decode_by_timestamp(path, lazy, wanted, size, read)
            except (IndexMismatch, av.FFmpegError):  # an open GOP, or damage: read the whole packet table instead
                got = None
            finally:
                lazy.close()  # the reader closes the container it took; this closes it when it took none
            if got is not None:
                times = np.zeros(len(lazy))
                times[wanted] = lazy.times_of(wanted)
                return _clip(path, lazy.fps, wanted, got, times, lazy.duration, read, total=len(lazy))
        table = scan_packets(path)
        if table.trusted and not table.damage and mode != "sequential":
            wanted = sample(table.times())
            read = {"plan": mode if table.seekable else "forward", "seeks": 0, "packets": 0, "decoded": 0,
                    "index": "full"}
            got = _decode_by_timestamp(path, table, wanted, size, read)
            if got is not None:
                return _clip(path, table.fps, wanted, got, table.times(), table.duration, read)
        return _sequential(path, table, sample, size)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, EOFError) as err:  # PyAV raises these for damaged or foreign files
        raise VideoDecodeError(path, f"cannot decode: {getattr(err, 'strerror', None) or err}") from err


def _check_regular_file(path: str) -> None:
    """Refuse what is not a regular, non-empty file before FFmpeg opens it: opening a FIFO would block until a writer
    comes, and /dev/zero or a folder would give FFmpeg's own, unhelpful errors."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise VideoDecodeError(path, "no such file") from None
    except OSError as err:
        raise VideoDecodeError(path, f"cannot read it: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
        kind = next((name for test, name in kinds if test(info.st_mode)), "a special file")
        raise VideoDecodeError(path, f"is not a regular file ({kind})")
    if info.st_size == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")


def _check_arguments(num_frames, fps, timestamps, indices, window, size, mode) -> None:
    if not isinstance(num_frames, (int, np.integer)) or isinstance(num_frames, bool) or num_frames <= 0:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    chosen = [name for name, value in (("fps", fps), ("timestamps", timestamps), ("indices", indices))
              if value is not None]
    if len(chosen) > 1:
        raise ValueError(f"choose one sampling: fps, timestamps or indices (got {chosen})")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    if window is not None and (chosen and chosen[0] != "fps" or len(window) != 2 or not window[0] < window[1]):
        raise ValueError(f"window must be (start_s, end_s) with start < end, for uniform or fps sampling; "
                         f"got {window!r}")
    if size is not None and not (isinstance(size, int) and size > 0 or
                                 isinstance(size, tuple) and len(size) == 2 and min(size) > 0):
        raise ValueError(f"size must be a positive int (shorter side) or (height, width), got {size!r}")
    if mode not in ("auto", "seek", "sequential"):
        raise ValueError(f"mode must be 'auto', 'seek' or 'sequential', got {mode!r}")


class _Converter:
    """Decoded frame → upright RGB uint8 array, resized by swscale in the same step when asked."""

    def __init__(self, size):
        from av.video.reformatter import VideoReformatter

        self.size = size
        self.reformatter = VideoReformatter()  # one swscale context for all frames: 0.3 ms, not 0.9, per 640x360

    def __call__(self, frame) -> np.ndarray:
        turns = (round(frame.rotation / 90) % 4) if frame.rotation else 0
        width, height = frame.width, frame.height
        if self.size is not None:
            upright_h, upright_w = (width, height) if turns % 2 else (height, width)
            if isinstance(self.size, tuple):
                upright_h, upright_w = self.size
            else:
                scale = self.size / min(upright_h, upright_w)
                upright_h, upright_w = max(1, round(upright_h * scale)), max(1, round(upright_w * scale))
            height, width = (upright_w, upright_h) if turns % 2 else (upright_h, upright_w)
        if (width, height) == (frame.width, frame.height):
            array = self.reformatter.reformat(frame, format="rgb24").to_ndarray()
        else:
            array = self.reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                              interpolation="AREA").to_ndarray()
        return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def _open_for_decoding(path, threads: int = 1):
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    _set_threads(stream, threads)
    return container, stream


def _set_threads(stream, threads: int) -> None:
    if threads > 1:
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = threads
    else:
        stream.codec_context.thread_count = 1  # FFmpeg's default would start a thread per core


def _decode_by_timestamp(path, table: PacketTable, wanted: np.ndarray, size, read: dict):
    """{index: RGB array} for the wanted frames; None to fall back to a counted pass. Counts into `read`.

    read["plan"]: "auto" seeks where the packet table says it skips more than SEEK_COST_FRAMES frames, "seek" seeks
    for every frame not yet decoded, "forward" never seeks.
    """
    import av

    reader = _TimestampReader(path, table, wanted, _Converter(size), read)
    try:
        for target in reader.order:
            if target not in reader.got:
                reader.fetch(target)
    except (IndexMismatch, av.FFmpegError):  # something it cannot vouch for, or a decoding error
        return None
    finally:
        reader.container.close()
    return reader.got


class _TimestampReader:
    """Decodes wanted frames, identified by their timestamps, seeking to keyframes where the plan says it pays.

    After the packet of a wanted frame, when the next wanted frame is reached by a seek (or there is none), the
    decoder is drained rather than fed the packets that would push the frame out of its reorder (and thread)
    pipeline: those are frames nobody asked for.
    """

    def __init__(self, path, table: PacketTable, wanted, convert, read: dict):
        self.table, self.convert, self.read = table, convert, read
        self.want = set(int(k) for k in wanted)
        table.prepare(self.want)  # if it raises, load_video closes the index's container
        container = getattr(table, "container", None)
        if container is None:
            import av

            container = av.open(path)
        table.container = None  # the reader owns it now
        self.container, self.stream = container, container.streams.video[0]
        self.order = sorted(self.want)
        self.want_pts = {int(table.pts[k]) for k in self.want}
        self.got: dict[int, np.ndarray] = {}
        self.packets = self.container.demux(self.stream)
        # Next decode position (None: must seek first), lowest pts kept since a seek, last pts out, decoder drained.
        self.pos, self.floor, self.last_out, self.drained = (None if table.moved else 0), None, None, False
        seeks, decoded = self._simulate()
        context = self.stream.codec_context
        shape = (context.width, context.height, decoded / max(seeks, 1))
        threads = DECODE_THREADS or decode_threads(*shape, available_cores())
        _set_threads(self.stream, threads)
        read["threads"] = threads

    def _seeks(self, target: int, pos) -> bool:
        """Whether reaching `target` with the decoder at position `pos` (None: nowhere) takes a seek."""
        j, key = int(self.table.decode_pos[target]), int(self.table.seek_from[target])
        policy = self.read["plan"]
        if key < 0 or policy == "forward" and pos is not None:
            return False
        return pos is None or policy == "seek" or max(0, j - pos) > (j - key) + SEEK_COST_FRAMES

    def _next_after(self, target: int):
        """The next wanted frame whose packet comes after `target`'s in decode order (None: the last)."""
        j = self.table.decode_pos[target]
        return next((k for k in self.order if k > target and self.table.decode_pos[k] > j), None)

    def _simulate(self) -> tuple[int, int]:
        """(seeks, packets decoded) the plan will take, for choosing threads before the decoder opens."""
        pos, seeks, decoded = self.pos, 0, 0
        for target in self.order:
            j = int(self.table.decode_pos[target])
            if pos is not None and j < pos:
                continue  # its packet is already in: it comes out with the others
            if self._seeks(target, pos):
                pos = int(self.table.seek_from[target])
                seeks += pos > 0
            decoded, pos = decoded + j + 1 - pos, j + 1
        return seeks, decoded

    def fetch(self, target: int) -> None:
        table = self.table
        can_continue = self.last_out is None or table.pts[target] > self.last_out
        if not can_continue or self.drained or self._seeks(target, self.pos):
            key = int(table.seek_from[target])
            if key < 0 or self.read["plan"] == "forward" and self.pos is not None:
                raise IndexMismatch  # cannot go back
            self.container.seek(table.seek_timestamp(key), stream=self.stream, backward=True, any_frame=False)
            self.stream.codec_context.flush_buffers()
            self.packets, self.pos, self.last_out, self.drained = self.container.demux(self.stream), None, None, False
            self.floor = int(table.packet_pts[key])
            self.read["seeks"] += key > 0  # back to the first keyframe is where a fresh open starts anyway
        following = self._next_after(target)
        drain = following is None or self._seeks(following, int(table.decode_pos[target]) + 1)
        self._decode_until(target, int(table.decode_pos[target]) if drain else None)

    def _decode_until(self, target: int, drain_after) -> None:
        """Feed packets until `target` comes out; drain the decoder once the packet at `drain_after` is in."""
        context = self.stream.codec_context
        for packet in self.packets:
            if packet.size == 0:
                frames = context.decode(None)  # end of stream: drain the decoder
                self.drained = True
            elif packet.is_discard:
                continue
            else:
                if self.pos is None:  # just sought: where did the demuxer land?
                    landed = self.table.landed(packet)
                    if landed is None or not packet.is_keyframe or packet.pts > self.floor:
                        raise IndexMismatch
                    self.pos, self.floor = landed, packet.pts
                self.pos += 1
                # Frames nothing refers to and nobody asked for need not be decoded (exact: no other frame uses them).
                skip = "DEFAULT" if packet.pts in self.want_pts else "NONREF"
                if context.skip_frame != skip:
                    context.skip_frame = skip
                frames = context.decode(packet)
                self.read["packets"] += 1
                if drain_after is not None and self.pos > drain_after:
                    frames = frames + context.decode(None)
                    self.drained = True
            for frame in frames:
                self._keep(frame)
            if target in self.got:
                return
            if self.drained:
                break
        raise IndexMismatch  # the stream ended before the frame came out

    def _keep(self, frame) -> None:
        self.read["decoded"] += 1
        k = self.table.rank(frame.pts)
        if k is None and (self.table.complete or frame.pts is None):
            raise IndexMismatch
        if self.floor is not None and frame.pts < self.floor:
            return  # leading frames of an open GOP decoded without their references
        self.last_out = frame.pts
        if k in self.want and k not in self.got:
            self.got[k] = self.convert(frame)


def _sequential(path, table: PacketTable, sample: Sampler, size) -> VideoClip:
    """One pass from the start that counts decoded frames as ffmpeg does (a second pass if the count surprises)."""
    times = table.times() if table.trusted else None
    wanted = sample(times) if times is not None and len(times) else None
    got, decoded_times, count, _ = _count_pass(path, None if wanted is None else set(wanted.tolist()), size)
    passes = 1
    if count == 0:
        raise VideoDecodeError(path, "no frame could be decoded")
    if wanted is None or count != len(times) or max(wanted) >= count:
        wanted = sample(decoded_times)  # the decoder disagrees with the container: its count is the truth
        if not set(wanted.tolist()) <= set(got):
            got, _, _, _ = _count_pass(path, set(wanted.tolist()), size)
            passes = 2
    duration = table.duration if table.trusted and count == len(times) else _duration(decoded_times, table.fps)
    read = {"plan": "sequential", "seeks": 0, "packets": 0, "decoded": count * passes, "index": "decoded",
            "threads": 1}
    return _clip(path, table.fps, wanted, got, decoded_times, duration, read)


def _count_pass(path, want: set | None, size):
    """Decode every frame in order, skipping undecodable packets like the ffmpeg CLI: (wanted frames as RGB, every
    frame's time, the frame count, the indices of frames the decoder flags as corrupt — where ffmpeg logs "error
    while decoding MB" and conceals the damage).

    One decoding thread: with frame threads, PyAV loses the frames in flight when a damaged packet fails (34 of the
    36 frames the ffmpeg CLI decodes from a half-truncated MP4 here), which would shift every later index.
    """
    import av

    convert = _Converter(size)
    got, pts, corrupt = {}, [], []
    container, stream = _open_for_decoding(path)
    time_base = stream.time_base or Fraction(1, 1)
    try:
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets, None)
            except (av.FFmpegError, EOFError):
                packet = None  # an unreadable tail: keep what decoded
            try:
                frames = stream.codec_context.decode(packet if packet is not None and packet.size else None)
            except av.FFmpegError:  # a damaged packet: ffmpeg logs it and goes on, so do we
                frames = []
            for frame in frames:
                if want is not None and len(pts) in want:
                    got[len(pts)] = convert(frame)
                if frame.is_corrupt:
                    corrupt.append(len(pts))
                pts.append(frame.pts)
            if packet is None:
                break  # the end, and the decoder is drained
    finally:
        container.close()
    known = [p for p in pts if p is not None]
    origin = min(known) if known else 0
    times = np.array([float((p - origin) * time_base) if p is not None else np.nan for p in pts])
    if len(times) and np.isnan(times).any():  # no timestamps at all: space frames at the stated rate
        times = np.arange(len(pts), dtype=np.float64) / (float(stream.average_rate or 25))
    return got, times, len(pts), corrupt


def _duration(times: np.ndarray, rate: float) -> float:
    if not len(times):
        return 0.0
    step = (times[-1] - times[-2]) if len(times) > 1 else (1 / rate if rate else 0.0)
    return float(times[-1] + step)


def _clip(path, rate, wanted, got, times, duration, read, total: int | None = None) -> VideoClip:
    return VideoClip(path=path, frames=np.stack([got[int(k)] for k in wanted]), indices=np.asarray(wanted, np.int64),
                     timestamps=np.asarray([times[int(k)] for k in wanted], np.float64), fps=float(rate),
                     duration=float(duration), total_frames=len(times) if total is None else total, read=read)
