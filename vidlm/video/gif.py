"""GIFs of the frames a model saw: sampled (and, optionally, cropped as the processor crops), timestamped, small.

    gif = write_gif("clip.mp4", "clip.gif", num_frames=8, fps=4, max_bytes=100_000)
    gif.size, gif.frames, gif.colors, len(gif.data)

Frames come from `load_video` (so the same sampling the captioner uses), a `VideoClip`, or a uint8 array
[T, H, W, 3]. `model_view` turns frames into exactly what a processor feeds the model (resize + centre crop).

Encoded with Pillow — the library imageio drives for GIFs — because imageio's writer quantises every frame on its
own and stores a 768-byte palette per frame, which doubles a small GIF; here the whole clip shares one palette,
exact when the clip has no more colours than the palette, median-cut otherwise, without dithering (dither noise
compresses badly). Pillow merges identical consecutive frames into one longer frame.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# A 3x5 bitmap font for timestamps: no system fonts needed, identical everywhere.
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"), ":": ("000", "010", "000", "010", "000"),
    "-": ("000", "000", "111", "000", "000"), "s": ("011", "100", "010", "001", "110"),
    " ": ("000", "000", "000", "000", "000"),
}
_MASKS = {ch: np.array([[c == "1" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}
_PALETTE_SIZES = (256, 128, 64, 32, 16)


@dataclass
class Gif:
    """An encoded GIF and what it ended up as (after any shrinking to meet a byte budget)."""

    data: bytes = field(repr=False)
    frames: int  # frames encoded (Pillow stores identical consecutive ones as one longer frame)
    size: tuple[int, int]  # (width, height) in pixels
    colors: int  # palette size it was quantised to
    frame_ms: int  # how long each frame shows
    path: Path | None = None

    def _repr_html_(self) -> str:  # shown animated in Jupyter
        return f'<img src="{data_uri(self.data)}">'


def clip_frames(source, num_frames: int = 8):
    """(frames uint8 [T, H, W, 3], timestamps in seconds or None) from a video path, a `VideoClip` or an array."""
    if isinstance(source, (str, os.PathLike)):
        from vidlm.video.decode import load_video

        source = load_video(source, num_frames=num_frames)
    if hasattr(source, "frames"):
        return _checked(source.frames), np.asarray(source.timestamps, dtype=float)
    return _checked(source), None


def model_view(frames, processor) -> np.ndarray:
    """The frames as the model sees them: run through the processor's video processor and un-normalised to uint8.

    processor: a vidlm/transformers processor (or its `video_processor`); the result has the processor's crop size,
    e.g. [T, 336, 336, 3] for LLaVA-NeXT-Video — what a GIF should show if the processor crops the sides away.
    """
    import torch

    video_processor = getattr(processor, "video_processor", processor)
    pixels = video_processor(videos=[_checked(frames)], return_tensors="pt")["pixel_values_videos"][0].float()
    if getattr(video_processor, "do_normalize", True):
        mean = pixels.new_tensor(video_processor.image_mean).view(1, 3, 1, 1)
        std = pixels.new_tensor(video_processor.image_std).view(1, 3, 1, 1)
        pixels = pixels * std + mean
    if getattr(video_processor, "do_rescale", True):
        pixels = pixels / video_processor.rescale_factor
    return pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def render_gif(source, *, num_frames: int = 8, timestamps="auto", fps: float = 4.0, loop: int | None = 0,
               size: int | None = None, max_bytes: int | None = None, min_side: int = 16,
               processor=None) -> Gif:
    """Encode the sampled frames of `source` (video path, `VideoClip` or uint8 array [T, H, W, 3]) as a GIF.

    timestamps: "auto" overlays each frame's time when the source knows it (a path or a clip); True requires it;
        False draws none; or a sequence of seconds, one per frame (for arrays).
    fps: frames shown per second (the sampled frames are sparse: 4 fps shows 8 frames in 2 s).
    loop: 0 = forever, None = play once, n = repeat n times (most browsers then show it n + 1 times).
    size: the longest side in pixels (None = as sampled); upscaling is nearest-neighbour, so pixels stay pixels.
    max_bytes: shrink until the GIF fits — fewer colours, then smaller (not below `min_side`), then every 2nd, 3rd…
        frame (each shown longer, so the clip keeps its pace) — or raise ValueError if even the smallest won't.
    processor: show frames as this processor crops and resizes them for the model (see `model_view`).
    """
    frames, times = clip_frames(source, num_frames)
    if processor is not None:
        frames = model_view(frames, processor)
    times = _overlay_times(timestamps, times, len(frames))
    if not 0 < fps <= 50:
        raise ValueError(f"fps must be in (0, 50], got {fps}: browsers show GIF frames shorter than 20 ms for 100 ms")
    if loop is not None and (not isinstance(loop, int) or loop < 0):
        raise ValueError(f"loop must be 0 (forever), a positive count or None (play once), got {loop!r}")
    frame_ms = max(20, int(round(100 / fps)) * 10)  # GIF stores delays in hundredths of a second
    height, width = frames.shape[1:3]
    target = max(height, width) if size is None else int(size)
    if target < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if max_bytes is None:
        return _encode(frames, times, frame_ms, loop, target, 256)
    shapes = list(_shrink_ladder(len(frames), target, min(height, width) * target / max(height, width), min_side))
    fewest = _PALETTE_SIZES[-1]
    smallest = _encode(frames, times, frame_ms, loop, shapes[-1][1], fewest, stride=shapes[-1][0])
    if len(smallest.data) > max_bytes:
        raise ValueError(f"Cannot fit the GIF in max_bytes={max_bytes}: the smallest version ({smallest.size[0]}x"
                         f"{smallest.size[1]} px, {smallest.frames} frames, {smallest.colors} colours) is "
                         f"{len(smallest.data)} bytes. Raise max_bytes, lower min_side or use fewer frames.")
    for stride, side in shapes:
        # The fewest colours first: when even they do not fit at this size, more colours will not either.
        fallback = _encode(frames, times, frame_ms, loop, side, fewest, stride=stride)
        if len(fallback.data) > max_bytes:
            continue
        for colors in _PALETTE_SIZES[:-1]:
            gif = _encode(frames, times, frame_ms, loop, side, colors, stride=stride)
            if len(gif.data) <= max_bytes:
                return gif
        return fallback
    return smallest


def write_gif(source, path, **options) -> Gif:
    """`render_gif(source, **options)` written to `path` (atomically); returns the `Gif` with `.path` set."""
    from vidlm.runtime.atomic import write_bytes

    gif = render_gif(source, **options)
    gif.path = write_bytes(path, gif.data)
    return gif


def write_gifs(videos, folder, names=None, **options) -> list[Path]:
    """A GIF per video in `folder`, named `<name>.gif` (default: the video's file stem); returns their paths.

    options: as for `render_gif` (num_frames, fps, size, max_bytes, processor…), the same for every video.
    """
    videos = list(videos)
    names = [Path(v).stem for v in videos] if names is None else list(names)
    if len(names) != len(videos):
        raise ValueError(f"{len(names)} names for {len(videos)} videos")
    return [write_gif(video, Path(folder) / gif_name(name), **options).path for video, name in zip(videos, names)]


def stored_or_rendered(video, stored=None, *, save: bool = False, **options) -> bytes | None:
    """The GIF of `video`: the file `stored` if it holds a whole GIF, else rendered from `video` with `options` (and,
    when `save`, written to `stored` atomically); None when there is neither a whole stored GIF nor the video.

    A stored file that is not a whole GIF (cut short by a crash or a full disk under an older vidlm, which wrote
    GIFs in place) is rendered again rather than shown broken.
    """
    if stored is not None and Path(stored).is_file():
        data = Path(stored).read_bytes()
        if is_complete_gif(data):
            return data
    if not Path(video).is_file():
        return None
    data = render_gif(video, **options).data
    if save and stored is not None:
        from vidlm.runtime.atomic import write_bytes

        write_bytes(stored, data)
    return data


def is_complete_gif(data: bytes) -> bool:
    """Whether `data` is a whole GIF: its signature, every frame decodes, and the trailer byte ends it."""
    from PIL import Image

    if not data.startswith((b"GIF87a", b"GIF89a")) or not data.endswith(b";"):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            for k in range(image.n_frames):
                image.seek(k)
                image.load()
    except (OSError, EOFError, ValueError, SyntaxError):  # what Pillow raises for damaged or truncated images
        return False
    return True


def data_uri(data: bytes) -> str:
    """GIF bytes as a `data:` URL, for pages that must work as one file (about 1.35× the bytes)."""
    import base64

    return "data:image/gif;base64," + base64.b64encode(data).decode()


def gif_name(sample_id: str) -> str:
    """The file name a sample's GIF gets: the id with anything but letters, digits, '.', '_' and '-' replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(sample_id)) + ".gif"


def format_time(seconds: float) -> str:
    """The overlay text for a timestamp: `1.25s`."""
    return f"{seconds:.2f}s" if seconds < 100 else f"{seconds:.0f}s"


def text_scale(height: int, width: int) -> int:
    """Pixel size of one font dot for a frame this size: 1 up to 159 px, 4 at 336 px."""
    return max(1, min(height, width) // 80)


def text_box(height: int, width: int, text: str, scale: int | None = None) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the region `draw_text` paints: the bottom-left corner, clipped to the frame."""
    scale = scale or text_scale(height, width)
    box_h, box_w = 7 * scale, (4 * len(text) + 1) * scale  # 5-dot glyphs, 1-dot gaps and margins
    return max(0, height - box_h), height, 0, min(width, box_w)


def draw_text(frame: np.ndarray, text: str, scale: int | None = None) -> np.ndarray:
    """A copy of `frame` with `text` in white on a black box in its bottom-left corner (characters: 0-9 . : - s)."""
    unknown = sorted(set(text) - set(_MASKS))
    if unknown:
        raise ValueError(f"Cannot draw {unknown} in {text!r}; the bitmap font has {''.join(sorted(_MASKS))!r}")
    out = frame.copy()
    height, width = out.shape[:2]
    scale = scale or text_scale(height, width)
    top, bottom, left, right = text_box(height, width, text, scale)
    out[top:bottom, left:right] = 0
    glyphs = np.concatenate([np.pad(_MASKS[ch], ((0, 0), (0, 1))) for ch in text], axis=1)[:, :-1]
    dots = np.kron(np.pad(glyphs, 1), np.ones((scale, scale), dtype=bool))[:bottom - top, :right - left]
    out[top:top + dots.shape[0], left:left + dots.shape[1]][dots] = 255
    return out


def _checked(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"Expected RGB frames [T, H, W, 3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"Expected uint8 frames, got {frames.dtype}; convert, e.g. (x * 255).astype(np.uint8)")
    return frames


def _overlay_times(timestamps, known, count: int):
    if isinstance(timestamps, str) and timestamps == "auto":
        return known
    if timestamps is True:
        if known is None:
            raise ValueError("timestamps=True needs a video path or clip; for an array pass timestamps=[seconds…]")
        return known
    if timestamps is False or timestamps is None:
        return None
    times = np.asarray(timestamps, dtype=float)
    if times.shape != (count,):
        raise ValueError(f"{len(times)} timestamps for {count} frames")
    return times


def _shrink_ladder(count: int, longest: int, shortest: float, min_side: int):
    """(frame stride, longest side) from the full GIF to the smallest, least visible loss first."""
    sides = [longest]
    while shortest * (sides[-1] * 3 // 4) / longest >= min_side and sides[-1] * 3 // 4 < sides[-1]:
        sides.append(sides[-1] * 3 // 4)
    # Every stride that removes frames, keeping at least two: one frame would no longer show any motion.
    strides = [s for s in range(1, count + 1)
               if s == 1 or len(range(0, count, s - 1)) > len(range(0, count, s)) >= min(2, count)]
    for stride in strides:
        for side in sides:
            yield stride, side


def _encode(frames, times, frame_ms, loop, side: int, colors: int, stride: int = 1) -> Gif:
    from PIL import Image

    frames, times = frames[::stride], None if times is None else times[::stride]
    images = [_resized(Image.fromarray(f), side) for f in frames]
    if times is not None:
        images = [Image.fromarray(draw_text(np.asarray(im), format_time(t))) for im, t in zip(images, times)]
    indexed, used = _indexed(images, colors)
    buffer = io.BytesIO()
    extra = {} if loop is None else {"loop": loop}
    indexed[0].save(buffer, format="GIF", save_all=True, append_images=indexed[1:], duration=frame_ms * stride,
                    optimize=True, disposal=1, **extra)
    return Gif(buffer.getvalue(), len(indexed), images[0].size, used, frame_ms * stride)


def _resized(image, side: int):
    from PIL import Image

    width, height = image.size
    if max(width, height) == side:
        return image
    factor = side / max(width, height)
    new = (max(1, round(width * factor)), max(1, round(height * factor)))
    # Nearest when enlarging keeps the model's pixels crisp; Lanczos when shrinking avoids aliasing.
    return image.resize(new, Image.Resampling.NEAREST if factor > 1 else Image.Resampling.LANCZOS)


def _indexed(images, colors: int):
    """The frames as palette images sharing one palette: the clip's exact colours if they fit, else median cut.

    Pixels are mapped to the palette here rather than by `Image.quantize(palette=…)`, whose colour lookup is
    approximate (it moved exact colours by ~1.6 levels on average in a 75-colour clip).
    """
    from PIL import Image

    stacked = np.concatenate([np.asarray(im) for im in images], axis=0)
    packed = (stacked[..., 0].astype(np.uint32) << 16) | (stacked[..., 1].astype(np.uint32) << 8) | stacked[..., 2]
    unique = np.unique(packed)
    if len(unique) <= colors:
        indices = np.searchsorted(unique, packed).astype(np.uint8)
        palette = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.uint8)
        palette, used = palette.ravel().tolist(), len(unique)
    else:
        quantized = Image.fromarray(stacked).quantize(colors, method=Image.Quantize.MEDIANCUT,
                                                      dither=Image.Dither.NONE)
        indices, palette, used = np.asarray(quantized), quantized.getpalette(), colors
    height = images[0].size[1]
    frames = []
    for k in range(len(images)):
        frame = Image.fromarray(np.ascontiguousarray(indices[k * height:(k + 1) * height]), mode="P")
        frame.putpalette(palette)
        frames.append(frame)
    return frames, used
