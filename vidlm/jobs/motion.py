"""Camera-motion tags (Open-Sora's categories) from a global similarity fit between frames, accumulated over the clip.

    camera_motion("clip.mp4")                   # 'pan_left+zoom_in'
    estimate_camera_motion("clip.mp4").pan      # content moved 0.41 × the shorter side to the right
    vidlm motion videos.csv --output motion.csv --threshold 0.25

Categories: `pan_left`, `pan_right`, `tilt_up`, `tilt_down`, `zoom_in`, `zoom_out` (joined with "+" when several
hold, pan before tilt before zoom), `static`, and `unclassified` (a roll, or motion no camera move explains). The
names are the camera's, as Open-Sora names them: `pan_left` turns the camera left, so the picture's content moves
right; `tilt_up` moves the content down; `zoom_in` enlarges it.

`threshold` is a displacement over the whole clip as a fraction of the frame's shorter side (Open-Sora's
`factor × min(H, W)`): a pan or tilt counts when the frame's centre moves that far, a zoom when the middles of the
frame's farther-apart edges do (left and right in a landscape frame: Open-Sora's GPU version tracks the edges, and its
left/right rule fires first), a roll when the corners do. In a 16:9 frame at 0.25, a zoom in by 1.29× or out to 0.71×
counts.

How: `num_frames` frames are sampled evenly (decoded at `size` pixels on the shorter side, grey); each consecutive
pair is aligned by a 4-parameter similarity (scale, rotation, translation) — phase correlation for the coarse shift,
then Gauss-Newton on an image pyramid with robust (Cauchy) weights, so people and cars moving on their own count
little — and the pairs' transforms are composed. Composing neighbours, not comparing every frame with the first
(Open-Sora's CPU version), keeps working when the first frame's content has left the picture.
`benchmarks/bench_motion.py` measures it against Open-Sora's algorithm on real footage moved by known amounts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

LABELS = ("pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "static", "unclassified")

# A pair is "explained" when the fitted camera move leaves most of the picture's structure in place: the robust
# residual is under this share of the frame's own variation. Scene cuts and chaos score near 1, camera moves ~0.1-0.3.
_EXPLAINED = 0.6
# At most this share of pairs may be unexplained before the clip is `unclassified`.
_UNEXPLAINED_PAIRS = 0.25


@dataclass
class MotionEstimate:
    """The camera's move over the whole clip, as it shows in the picture (fractions of the frame's shorter side)."""

    pan: float  # the centre's horizontal displacement: > 0 content moved right (the camera panned left)
    tilt: float  # vertical: > 0 content moved down (the camera tilted up)
    zoom: float  # scale of the content, last frame vs first: > 1 zoom in
    roll: float  # rotation of the content in degrees, counter-clockwise on screen
    explained: float  # share of frame pairs the camera model explains (1.0: all)
    frames: int  # frames compared
    aspect: float  # width / height of the frames

    def zoom_shift(self) -> float:
        """How far the zoom alone moves the middles of the farther-apart edges (fraction of the shorter side)."""
        return abs(self.zoom - 1.0) * max(self.aspect, 1 / self.aspect) / 2

    def roll_shift(self) -> float:
        """How far the roll alone moves the frame's corners (fraction of the shorter side)."""
        half_diagonal = math.hypot(self.aspect, 1.0) / 2 / min(self.aspect, 1.0)
        return 2 * abs(math.sin(math.radians(self.roll) / 2)) * half_diagonal

    def label(self, threshold: float = 0.25) -> str:
        """Open-Sora's tag for this move at `threshold` (see the module docstring)."""
        if self.frames < 2 or self.explained < 1 - _UNEXPLAINED_PAIRS:
            return "unclassified"
        parts = []
        if abs(self.pan) >= threshold:
            parts.append("pan_left" if self.pan > 0 else "pan_right")
        if abs(self.tilt) >= threshold:
            parts.append("tilt_up" if self.tilt > 0 else "tilt_down")
        if self.zoom_shift() >= threshold:
            parts.append("zoom_in" if self.zoom > 1 else "zoom_out")
        if self.roll_shift() >= threshold:
            return "unclassified"  # the camera rolled: no category says so
        return "+".join(parts) or "static"


def camera_motion(video, threshold: float = 0.25, *, num_frames: int = 8, size: int = 64) -> str:
    """Open-Sora's camera-motion tag of a video file (or of frames, uint8 [T, H, W, 3]), e.g. `'pan_left+zoom_in'`.

    Raises `vidlm.VideoDecodeError` for a file that cannot be read.
    """
    check_threshold(threshold)
    return estimate_camera_motion(video, num_frames=num_frames, size=size).label(threshold)


def check_threshold(threshold) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < math.inf:
        raise ValueError(f"threshold must be a number > 0 (a fraction of the frame's shorter side, e.g. 0.25), got "
                         f"{threshold!r}")


def estimate_camera_motion(video, *, num_frames: int = 8, size: int = 64) -> MotionEstimate:
    """The camera's move over a video file (or frames, uint8 [T, H, W, 3], taken as the whole clip)."""
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2 (motion needs two frames), got {num_frames}")
    if isinstance(video, np.ndarray):
        frames, extend = video, 1.0
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 [T, H, W, 3], got shape {frames.shape}")
        if len(frames) > num_frames:
            frames = frames[np.linspace(0, len(frames) - 1, num_frames).round().astype(int)]
        frames = _downscale(frames, size)
    else:
        from vidlm.video.decode import load_video

        clip = load_video(video, num_frames=num_frames, size=size)
        frames = clip.frames
        span = int(clip.indices[-1] - clip.indices[0]) if len(clip.indices) > 1 else 0
        # uniform sampling takes segment centres: the first and last sampled frames are not the clip's ends
        extend = (clip.total_frames - 1) / span if span else 1.0
    grey = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = grey.shape[1:]
    matrix, shift, explained = np.eye(2), np.zeros(2), []
    for a, b in zip(grey[:-1], grey[1:]):
        m, t, fit = align(a, b)
        matrix, shift = m @ matrix, m @ shift + t  # compose: the newest pair's move applies after the earlier ones
        explained.append(fit < _EXPLAINED)
    scale = math.sqrt(max(np.linalg.det(matrix), 1e-12))
    angle = math.atan2(matrix[1, 0], matrix[0, 0])
    short = min(h, w)
    return MotionEstimate(pan=float(shift[0] * extend / short), tilt=float(shift[1] * extend / short),
                          zoom=scale ** extend, roll=math.degrees(angle * extend),
                          explained=float(np.mean(explained)) if explained else 0.0, frames=len(grey),
                          aspect=w / h)


def _downscale(frames: np.ndarray, size: int) -> np.ndarray:
    """Frames with the shorter side near `size` (whole-factor area averaging: cheap and alias-free)."""
    factor = max(1, min(frames.shape[1:3]) // size)
    if factor == 1:
        return frames
    t, h, w, c = frames.shape
    h, w = h // factor * factor, w // factor * factor
    return frames[:, :h, :w].reshape(t, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def align(a: np.ndarray, b: np.ndarray, levels: int = 3, iterations: int = 8):
    """The similarity (2×2 matrix M, shift t; centred pixel coordinates) with b(M x + t) ≈ a(x), and the fit's
    residual as a share of a's own variation (near 0: explained; near 1: not).

    A point at x (from the centre) in `a` shows at M x + t in `b`: t > 0 along x when the content moved right.
    """
    a, b = _normalise(a, a), _normalise(b, a)
    pyramid = [(a, b)]
    while len(pyramid) < levels and min(pyramid[-1][0].shape) >= 32:
        pyramid.append((_half(pyramid[-1][0]), _half(pyramid[-1][1])))
    coarse = len(pyramid) - 1
    start = _phase_shift(a, b) / 2 ** coarse
    # A wrong phase-correlation peak (flat or repetitive content) would trap the fit: keep the better of both starts.
    starts = (start, np.zeros(2)) if start.any() else (start,)
    candidates = [_fit(*pyramid[coarse], np.array([0.0, 0.0, *s]), iterations, final=True) for s in starts]
    p, residual = min(candidates, key=lambda c: c[1])
    for level in range(coarse - 1, -1, -1):
        p = np.array([p[0], p[1], p[2] * 2, p[3] * 2])
        p, residual = _fit(*pyramid[level], p, max(2, iterations // 2), final=level == 0)  # started close
    m = np.array([[1 + p[0], -p[1]], [p[1], 1 + p[0]]])
    return m, p[2:].copy(), residual


def _normalise(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`image` scaled as `like` would be to zero mean and unit spread (one scale for both frames of a pair: a
    brightness gradient that moves, like a sky when the camera tilts, stays visible)."""
    image = image.astype(np.float32)
    return (image - like.mean()) / (like.std() + 1.0)  # +1: a flat grey frame stays flat, not amplified noise


def _half(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _phase_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The whole-pixel shift (x, y) of b's content against a's, from the phase correlation peak."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1])).astype(np.float32)
    cross = np.conj(np.fft.rfft2(a * window)) * np.fft.rfft2(b * window)
    surface = np.fft.irfft2(cross / (np.abs(cross) + 1e-6), s=a.shape)
    y, x = np.unravel_index(np.argmax(surface), surface.shape)
    h, w = a.shape
    return np.array([x - w if x > w // 2 else x, y - h if y > h // 2 else y], dtype=np.float64)


def _fit(a, b, p, iterations, final=False):
    """Gauss-Newton on p = (scale - 1, rotation, tx, ty) with Cauchy weights; returns p and (when `final`) the
    robust residual as a share of a's spread."""
    h, w = a.shape
    x, y = _grid(h, w)
    target = a.ravel()
    r = target
    for _ in range(iterations):
        u = (1 + p[0]) * x - p[1] * y + (p[2] + (w - 1) / 2)
        v = p[1] * x + (1 + p[0]) * y + (p[3] + (h - 1) / 2)
        inside = ((u >= 1) & (u <= w - 2) & (v >= 1) & (v <= h - 2)).ravel()
        if inside.sum() < 0.2 * inside.size:  # the frames hardly overlap at this guess: nothing to fit
            return p, 1.0
        warped = _bilinear(b, np.clip(u, 0, w - 1), np.clip(v, 0, h - 1))
        gy, gx = (g.ravel()[inside] for g in np.gradient(warped))  # b's gradient where it lands, from one sample
        r = target[inside] - warped.ravel()[inside]
        xi, yi = x.ravel()[inside], y.ravel()[inside]
        weight = 1.0 / (1.0 + (r / (3.0 * np.mean(np.abs(r)) + 1e-3)) ** 2)  # Cauchy; mean |r| as its scale
        jac = np.stack([gx * xi + gy * yi, gy * xi - gx * yi, gx, gy])
        jw = jac * weight
        step = np.linalg.solve(jw @ jac.T + 1e-6 * np.eye(4), jw @ r)
        p = p + step
        # a few hundredths of a pixel per pair stay far below any threshold after composing a clip's pairs
        if abs(step[2]) + abs(step[3]) < 0.05 and abs(step[0]) + abs(step[1]) < 5e-4:
            break
    if not final:
        return p, 0.0
    t = target[inside] if r is not target else target
    return p, float(np.median(np.abs(r)) / (np.median(np.abs(t - np.median(t))) + 1e-3))


@functools.cache
def _grid(h: int, w: int):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs - (w - 1) / 2, ys - (h - 1) / 2


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`image` sampled at (u, v) (same-shaped coordinate arrays inside the image), bilinear."""
    h, w = image.shape
    x0 = np.minimum(u.astype(np.int64), w - 2)
    y0 = np.minimum(v.astype(np.int64), h - 2)
    fx, fy = u - x0, v - y0
    flat = image.ravel()
    i = y0 * w + x0
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + w] * (1 - fx) + flat[i + w + 1] * fx
    return top * (1 - fy) + bottom * fy


def motion_layout():
    """The columns `vidlm motion` writes (its own row/status/error names, so a captions CSV can be its input)."""
    from vidlm.jobs.caption_files import Layout

    return Layout(command="vidlm motion", column="path", column_hint="Name the column of video files `path`.",
                  added=("cmotion",), row="motion_row", status="motion_status", error="motion_error")


def motion_csv(config):
    """Tag every video of `config.input_csv` (a `MotionConfig`) with its camera motion into `config.output_csv`:
    a `cmotion` column, crash-safe part files, resume and shards as `vidlm caption` (`vidlm.jobs.rows`).

    With `caption_column`, each non-empty caption of that column also gets "Camera motion: pan left, zoom in."
    appended (as Open-Sora's data report did), except where the tag is `unclassified` or the row failed.
    """
    from vidlm.jobs.caption_files import RowJobError, read_input
    from vidlm.jobs.rows import RowJob, check_paths, run_rows

    check_paths(config.input_csv, config.output_csv)
    layout = motion_layout()
    table = read_input(config.input_csv, layout)
    if config.caption_column is not None and config.caption_column not in table.columns:
        raise RowJobError(f"{config.input_csv} has no `{config.caption_column}` column for --caption-column; its "
                          f"columns are {table.columns}")
    settings = {"threshold": config.threshold, "num_frames": config.num_frames, "size": config.size,
                "caption_column": config.caption_column}

    def work(shard):
        for row in shard.rows:
            yield [_tag_row(table, row, config, layout)]

    job = RowJob(table, config.output_csv, settings, config=config, retry_failed=config.retry_failed,
                 fsync_every_s=config.fsync_every_s, wait_timeout_s=config.wait_timeout_s,
                 progress=config.progress, unit="video", desc="camera motion")
    return run_rows(job, work)


def _tag_row(table, row: int, config, layout) -> dict:
    from vidlm.video.decode import VideoDecodeError

    record = {layout.row: row, "cmotion": "", layout.status: "failed", layout.error: ""}
    path = table.video_path(row)
    if path is None:
        return {**record, layout.error: "empty path"}
    try:
        label = camera_motion(path, config.threshold, num_frames=config.num_frames, size=config.size)
    except VideoDecodeError as err:
        return {**record, layout.error: str(err)}
    except Exception as err:  # a decoder failure on one file must fail that row only, never the run
        return {**record, layout.error: f"{path}: {type(err).__name__}: {err}"}
    record = {**record, "cmotion": label, layout.status: "ok"}
    caption = table.rows[row].get(config.caption_column, "") if config.caption_column else ""
    if caption.strip() and label != "unclassified":
        record[config.caption_column] = f"{caption.rstrip()} Camera motion: {motion_words(label)}."
    return record


def motion_words(label: str) -> str:
    """A tag as words for a caption: `pan_left+zoom_in` → `pan left, zoom in`."""
    return ", ".join(part.replace("_", " ") for part in label.split("+"))
