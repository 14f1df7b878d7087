"""Where a video's frames are: the packet table that `load_video` plans its reads from (internal to vidlm).

`scan_packets` demuxes every packet (no decoding) and indexes frames by presentation timestamp: frame k is the k-th
smallest. `MovIndex` gets the same answers for an MP4/MOV lazily, from the file's own sample index plus the timestamps
of only the GOPs that hold wanted frames. Either raises `IndexMismatch` when the file breaks an assumption, and
`load_video` then reads the file another way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# Containers whose seeking goes through a real index (MP4/MOV sample tables, Matroska cues). Others (MPEG-TS, raw
# streams) seek by bisecting byte positions and are read in one pass.
SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm")
KEYFRAME, DISCARD = 1, 2  # AVIndexEntry flags


class VideoDecodeError(RuntimeError):
    """A video could not be read; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class IndexMismatch(Exception):
    """A read by timestamps met something it cannot vouch for: read the file another way."""


@dataclass
class PacketTable:
    """What demuxing (no decoding) tells about the video stream; indices are presentation order."""

    pts: np.ndarray  # int64 [N], sorted: frame k has timestamp pts[k]
    decode_pos: np.ndarray  # int64 [N]: position of frame k's packet in decode order
    seek_from: np.ndarray  # int64 [N]: decode position of the keyframe to seek to for frame k (-1: none)
    packet_pts: np.ndarray  # int64 [packets]: pts of the packet at each decode position
    time_base: Fraction
    fps: float
    duration: float
    trusted: bool  # every packet has a distinct timestamp
    seekable: bool
    packets: int
    stated_frames: int = 0  # the container's own frame count (0 where it states none: WebM, MKV, MPEG-TS)
    read_error: str = ""  # why demuxing stopped before the end, if it did
    end_byte: int = 0  # where the last video packet ends in the file
    malformed: int = -1  # decode position of the first packet flagged corrupt or not well formed (-1: none)

    complete = True  # every frame's timestamp is known: an unknown one means damage
    moved = False  # the table was read with a container of its own: the reader's starts at the first packet

    @property
    def damage(self) -> str:
        """Why the packets may not all decode ("" if nothing says so): then only decoding can count the frames."""
        if self.read_error:
            return f"the file cannot be read past frame {self.packets} ({self.read_error})"
        if self.malformed >= 0:
            return f"packet {self.malformed} (in decode order) is corrupt"
        return ""

    def times(self) -> np.ndarray:
        if not len(self.pts):
            return np.zeros(0)
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)

    def prepare(self, wanted) -> None:
        """Nothing to do: the whole table was read up front."""

    def rank(self, pts) -> int | None:
        """The presentation index of the frame with timestamp `pts`, None if no frame has it."""
        if pts is None:
            return None
        k = int(np.searchsorted(self.pts, pts))
        return k if k < len(self.pts) and self.pts[k] == pts else None

    def landed(self, packet) -> int | None:
        """The decode position of the packet a seek landed on."""
        k = self.rank(packet.pts)
        return None if k is None else int(self.decode_pos[k])

    def seek_timestamp(self, key: int) -> int:
        return int(self.packet_pts[key])


def scan_packets(path: str) -> PacketTable:
    """Demux every packet of the first video stream (no decoding) into a `PacketTable`."""
    import av


    with av.open(path) as container:
        if not container.streams.video:
            raise VideoDecodeError(path, "the file has no video stream")
        stream = container.streams.video[0]
        pts, keys, durations, read_error, end_byte, malformed = [], [], [], "", 0, -1
        size_length = nal_size_length(stream)
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:  # the flush packet at EOF; edit-list discards
                    continue
                # The MPEG-TS demuxer flags packets it had to patch together (continuity errors): some of those
                # give no frame, without an error from the decoder.
                if malformed < 0 and (packet.is_corrupt or size_length and not well_formed(memoryview(packet),
                                                                                           size_length)):
                    malformed = len(pts)
                pts.append(packet.pts)
                keys.append(packet.is_keyframe)
                durations.append(packet.duration or 0)
                if packet.pos is not None and packet.pos >= 0:
                    end_byte = max(end_byte, packet.pos + packet.size)
        except (av.FFmpegError, EOFError) as err:  # a damaged or truncated tail: index what could be read
            read_error = getattr(err, "strerror", None) or str(err)
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        time_base = stream.time_base or Fraction(1, 1)
        seekable = any(name in container.format.name.split(",") for name in SEEKABLE_FORMATS)
        stated = stream.frames or 0
        stated_duration = float(stream.duration * time_base) if stream.duration else 0.0  # the container's own
    if not pts:
        raise VideoDecodeError(path, "the video stream has no frames")
    trusted = None not in pts and len(set(pts)) == len(pts)
    if not trusted:
        empty = np.zeros(0, np.int64)
        return PacketTable(empty, empty, empty, empty, time_base, float(rate), 0.0, False, False, len(pts), stated,
                            read_error, end_byte, malformed)
    pts_arr = np.asarray(pts, np.int64)
    order = np.argsort(pts_arr, kind="stable")
    decode_pos = order.astype(np.int64)
    # Seek to the last keyframe at or before the frame's packet whose own timestamp is not after the frame's: with
    # open GOPs, frames that follow a keyframe in decode order but precede it on screen need the GOP before.
    positions = np.arange(len(pts))
    last_key = np.maximum.accumulate(np.where(keys, positions, -1))  # per decode position
    seek_from = last_key[decode_pos]
    for frame in np.nonzero((seek_from >= 0) & (pts_arr[np.maximum(seek_from, 0)] > pts_arr[decode_pos]))[0]:
        key = seek_from[frame]
        while key >= 0 and pts_arr[key] > pts_arr[decode_pos[frame]]:
            key = last_key[key - 1] if key > 0 else -1
        seek_from[frame] = key
    last = pts_arr[order[-1]]
    tail = durations[order[-1]] or (round(1 / (rate * time_base)) if rate else 0)
    duration = stated_duration or float((last - pts_arr[order[0]] + tail) * time_base)
    return PacketTable(pts_arr[order], decode_pos, seek_from, pts_arr, time_base, float(rate), duration, True,
                        seekable, len(pts), stated, read_error, end_byte, malformed)


def nal_size_length(stream) -> int:
    """Bytes of the size before each NAL unit of an H.264/HEVC stream stored as MP4 and Matroska store it (avcC,
    hvcC), 0 for other codecs and for Annex B (MPEG-TS), which mark NAL units with start codes instead."""
    extradata = stream.codec_context.extradata
    if not extradata or extradata[0] != 1:
        return 0
    at = {"h264": 4, "hevc": 21}.get(stream.codec_context.name)
    return (extradata[at] & 3) + 1 if at is not None and len(extradata) > at else 0


def well_formed(data, size_length: int) -> bool:
    """Whether a packet splits exactly into size-prefixed NAL units.

    A packet that does not is one the decoder rejects whole ("Invalid NAL unit size"): ffmpeg drops that frame, so
    every later frame's index is one less than the packet table says. Cut or overwritten packets almost never split
    exactly, and checking costs a few integer reads per packet, not a decode.
    """
    at, end = 0, len(data)
    while at + size_length <= end:
        at += size_length + int.from_bytes(data[at:at + size_length], "big")
    return at == end


def open_indexed(path):
    """`av.open` for reading the packets and decoding them ourselves: the stream probe decodes no frame.

    `avformat_find_stream_info` otherwise decodes the first frame to learn what the decoder tells anyway when it
    decodes: 10 ms of a 2.5 ms open for a 1080p H.264 MP4. What the probe would have filled in from that frame (the
    pixel format) the decoder sets itself; the reorder delay comes from the stream's parameter sets either way.
    """
    import av

    return av.open(path, options={"skip_frame": "all"})


class MovIndex:
    """The packet table of an MP4/MOV read lazily: the frame count and keyframes from the file's own sample index,
    timestamps only for the GOPs that hold wanted frames (reading every packet of a 2-minute video costs ~13 ms).

    It relies on each keyframe being the first frame of its GOP on screen (a closed GOP): then the frame count
    before a keyframe in decode order is its index. Every GOP read is checked for that; a file where it fails is read
    the usual way. Sampling by time (fps, timestamps, window) needs every timestamp, so it uses the full table.
    """

    complete = False  # frames of GOPs not read have unknown timestamps: they are simply not wanted
    moved = False

    def __init__(self, path, stream, entries: np.ndarray):
        n = len(entries)
        self.path, self.time_base = path, stream.time_base
        self.fps = float(stream.average_rate or stream.guessed_rate or 0)
        self.duration = float(stream.duration * stream.time_base)
        self.start = int(stream.start_time)
        self.index_ts, self.index_pos, self.sizes, flags = entries.T  # decode timestamps, bytes, flags
        # seek() takes presentation time; the first keyframe is shown at start_time and decoded at index_ts[0]
        self.seek_offset = self.start - int(self.index_ts[0])
        self.container = None
        self.keys = np.nonzero(flags & KEYFRAME)[0].astype(np.int64)
        self.key_at = {int(self.index_pos[k]): int(k) for k in self.keys}
        self.pts = np.full(n, -1, np.int64)  # by frame index, once its GOP is read
        self.decode_pos = np.full(n, -1, np.int64)
        self.packet_pts = np.full(n, -1, np.int64)  # by decode position
        self.seek_from = self.keys[np.searchsorted(self.keys, np.arange(n), side="right") - 1]
        self.ranks: dict[int, int] = {}

    @classmethod
    def open(cls, path):
        """The lazy index of `path`, or None where the file's own index cannot be trusted for it (or it is no MP4).

        The index keeps its container open for the read (`container`, closed with `close()`): one open per read.
        """
        with open(path, "rb") as f:
            if f.read(12)[4:8] not in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
                return None  # not an ISO media file: spare the open
        container = open_indexed(path)
        try:
            if "mov" not in container.format.name.split(",") or not container.streams.video:
                raise IndexMismatch
            stream = container.streams.video[0]
            # One pass over PyAV's entry objects (3600 of them for 2 minutes; each attribute read costs).
            listed = stream.index_entries
            entries = np.fromiter((x for e in listed for x in (e.timestamp, e.pos, e.size, e.flags)), np.int64,
                                  4 * len(listed)).reshape(-1, 4)
            if (not len(entries) or stream.frames != len(entries) or stream.start_time is None or not stream.duration
                    or (entries[:, 3] & DISCARD).any() or not entries[0, 3] & KEYFRAME
                    or entries[-1, 1] + entries[-1, 2] > os.path.getsize(path)):  # truncated, fragmented, edited
                raise IndexMismatch
            index = cls(path, stream, entries)
            size_length = nal_size_length(stream)
            if size_length and not samples_well_formed(path, index.index_pos, index.sizes, size_length):
                raise IndexMismatch  # damaged: the full table says where, and decoding counts the frames
        except IndexMismatch:
            container.close()
            return None
        except BaseException:
            container.close()
            raise
        index.container = container
        return index

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def __len__(self) -> int:
        return len(self.pts)

    def times_of(self, wanted) -> np.ndarray:
        return (self.pts[wanted] - self.start).astype(np.float64) * float(self.time_base)

    def prepare(self, wanted) -> None:
        """Read the timestamps of every GOP that holds a wanted frame (raises IndexMismatch if one is not closed)."""
        gops = sorted({int(self.seek_from[k]) for k in wanted} - {int(self.seek_from[k]) for k in self.ranks.values()})
        stream = self.container.streams.video[0]
        for key in gops:
            self._read_gop(self.container, stream, key)
        self.moved = self.moved or bool(gops)  # the demuxer is no longer at the start: the read must seek first

    def _read_gop(self, container, stream, key: int) -> None:
        after = self.keys[self.keys > key]
        end = int(after[0]) if len(after) else len(self.pts)
        container.seek(self.seek_timestamp(key), stream=stream, backward=True, any_frame=False)
        pts = []
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            if not pts and packet.pos != self.index_pos[key]:
                if packet.pos > self.index_pos[key] or packet.pos < 0:
                    raise IndexMismatch  # landed past the keyframe: do not guess
                continue  # landed on an earlier keyframe: read on to ours
            pts.append(packet.pts)
            if len(pts) == end - key:
                break
        if len(pts) != end - key or None in pts or len(set(pts)) != len(pts) or min(pts) != pts[0]:
            raise IndexMismatch  # short, untimed, or an open GOP: the keyframe is not its GOP's first frame on screen
        order = np.argsort(pts, kind="stable")
        self.packet_pts[key:end] = pts
        for rank, position in enumerate(order, start=key):
            self.pts[rank] = pts[position]
            self.decode_pos[rank] = key + position
            self.ranks[int(pts[position])] = rank

    def rank(self, pts) -> int | None:
        return self.ranks.get(pts)

    def landed(self, packet) -> int | None:
        return self.key_at.get(packet.pos)

    def seek_timestamp(self, key: int) -> int:
        return int(self.index_ts[key]) + self.seek_offset


def samples_well_formed(path, positions: np.ndarray, sizes: np.ndarray, size_length: int) -> bool:
    """Whether every sample at `positions` (bytes) splits into NAL units (see `well_formed`), read without demuxing.

    All samples step through their NAL units together in numpy, one step per NAL unit of the longest sample: 0.3 ms
    for a 2-minute video where a Python loop over the samples took 3.5 ms.
    """
    data = np.memmap(path, np.uint8, mode="r")
    at, end = positions.copy(), positions + sizes
    going = np.nonzero(at + size_length <= end)[0]
    while len(going):
        start = at[going]
        length = np.zeros(len(going), np.int64)
        for b in range(size_length):
            length = (length << 8) | data[start + b]
        at[going] = start + size_length + length
        going = going[at[going] + size_length <= end[going]]
    return bool((at == end).all())


def uniform_indices(total: int, num_frames: int) -> np.ndarray:
    """The centre frame of each of `num_frames` equal segments of `total` frames (repeats when total < num_frames)."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return ((np.arange(num_frames) + 0.5) * total / num_frames).astype(np.int64)


class Sampler:
    """Turns the sampling arguments into frame indices, given every frame's time in seconds."""

    def __init__(self, num_frames, fps, timestamps, indices, window, path):
        self.num_frames, self.fps, self.window, self.path = num_frames, fps, window, path
        self.timestamps = None if timestamps is None else np.asarray(timestamps, np.float64).ravel()
        self.indices = None if indices is None else np.asarray(indices).ravel()

    def needs_count_only(self) -> bool:
        """Whether the frame count alone decides the indices (uniform or explicit), not every frame's time."""
        return self.fps is None and self.timestamps is None and self.window is None

    def __call__(self, times: np.ndarray) -> np.ndarray:
        total = len(times)
        eps = 1e-6  # timestamps are exact rationals; this absorbs float rounding of the caller's seconds only
        if self.indices is not None:
            bad = [int(k) for k in self.indices if not 0 <= k < total]
            if bad or not len(self.indices):
                raise ValueError(f"{self.path}: frame indices {bad or '[]'} out of range; the video has {total} "
                                 f"frames (0..{total - 1})")
            return self.indices.astype(np.int64)
        if self.timestamps is not None:
            end = times[-1] + (times[-1] - times[-2] if total > 1 else 0)
            bad = [float(t) for t in self.timestamps if not -eps <= t <= end + eps]
            if bad or not len(self.timestamps):
                raise ValueError(f"{self.path}: timestamps {bad or '[]'} outside the video (0 to {end:.3f} s)")
            return np.searchsorted(times, self.timestamps + eps, side="right").astype(np.int64) - 1
        first, stop = 0, total
        start_s = 0.0
        if self.window is not None:
            start_s, end_s = self.window
            first = int(np.searchsorted(times, start_s - eps, side="left"))
            stop = int(np.searchsorted(times, end_s - eps, side="left"))
            if stop <= first:
                raise ValueError(f"{self.path}: no frame is shown in the window {self.window} s (the video has "
                                 f"{total} frames over {times[-1]:.3f} s)")
        if self.fps is None:
            return first + uniform_indices(stop - first, self.num_frames)
        end_s = times[stop - 1] + eps
        ticks = start_s + np.arange(int((end_s - start_s) * self.fps) + 1) / self.fps
        picked = np.unique(np.clip(np.searchsorted(times, ticks + eps, side="right") - 1, first, stop - 1))
        if len(picked) > self.num_frames:
            picked = picked[uniform_indices(len(picked), self.num_frames)]
        return picked.astype(np.int64)
