"""Synthetic clips with known content: one coloured shape moving in one direction, and its caption.

They are what the tiny models learn from in the demo and the tests: every caption is `a {colour} {shape} moves
{direction}`, so a model's captions can be scored attribute by attribute (`attribute_accuracy`).

>>> make_split("data/synthetic", "train", count=256, seed=0)  # writes data/synthetic/train/*.mp4 + captions.csv
"""

from __future__ import annotations

import csv
import itertools
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 90, 235), "yellow": (235, 215, 40)}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
ATTRIBUTES = ("colour", "shape", "direction")


@dataclass(frozen=True)
class ClipSpec:
    """What a synthetic clip shows."""

    colour: str
    shape: str
    direction: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} moves {self.direction}"


def all_specs() -> list[ClipSpec]:
    """Every combination of colour, shape and direction (48)."""
    return [ClipSpec(c, s, d) for c, s, d in itertools.product(COLOURS, SHAPES, DIRECTIONS)]


def render_clip(spec: ClipSpec, rng: np.random.Generator, size: int = 64, num_frames: int = 16) -> np.ndarray:
    """Frames [T, size, size, 3] uint8 of the shape moving across a grey background, with a random start and speed."""
    radius = size // 7
    travel = rng.uniform(0.45, 0.6) * size  # how far the shape moves over the clip
    dx, dy = DIRECTIONS[spec.direction]
    lo, hi = radius + 1, size - radius - 1
    # Start so that the whole path stays inside the frame.
    x0 = rng.uniform(lo, hi) if dx == 0 else (rng.uniform(lo, hi - travel) if dx > 0 else rng.uniform(lo + travel, hi))
    y0 = rng.uniform(lo, hi) if dy == 0 else (rng.uniform(lo, hi - travel) if dy > 0 else rng.uniform(lo + travel, hi))
    background = rng.integers(70, 130)
    yy, xx = np.mgrid[0:size, 0:size]
    frames = np.full((num_frames, size, size, 3), background, dtype=np.uint8)
    for t in range(num_frames):
        step = travel * t / max(num_frames - 1, 1)
        cx, cy = x0 + dx * step, y0 + dy * step
        frames[t][_mask(spec.shape, xx - cx, yy - cy, radius)] = COLOURS[spec.colour]
    return frames


def _mask(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    if shape == "circle":
        return x**2 + y**2 <= r**2
    if shape == "square":
        return (np.abs(x) <= r * 0.85) & (np.abs(y) <= r * 0.85)
    if shape == "triangle":  # pointing up: apex at (0, -r), base at y = r
        return (y <= r) & (y >= -r) & (np.abs(x) <= (y + r) / 2)
    raise ValueError(f"Unknown shape {shape!r}; known: {list(SHAPES)}")


def write_video(path, frames: np.ndarray, fps: int = 8) -> None:
    """Encode RGB frames [T, H, W, 3] (even H and W) as H.264 MP4, near-lossless so colours survive.

    The same frames always give the same bytes (so a seed reproduces a dataset exactly): x264 runs on one thread
    without lookahead, and the RGB → YUV conversion is done here in numpy.
    """
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frames must be [T, H, W, 3] with even H and W, got shape {frames.shape}")
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # x264's lookahead / mb-tree made the same frames encode differently from run to run here (even on one
        # thread); without them, and on one thread, the output is byte-identical.
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "12", "preset": "fast",
                          "x264-params": "threads=1:rc-lookahead=0:mbtree=0:sync-lookahead=0"}
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(array), format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)  # frame i shown at i / fps
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0 (chroma averaged over 2×2 blocks) in PyAV's planar layout [H * 3/2, W]."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    h, w = r.shape
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u, v = (c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)) for c in (u, v))
    planes = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)
    return np.clip(np.rint(planes), 0, 255).astype(np.uint8)


def make_split(root, split: str, count: int, seed: int, size: int = 64, num_frames: int = 16) -> Path:
    """Write `count` clips to `root/split/` and their captions to `root/split/captions.csv`; returns the CSV path.

    Clips cycle through every colour × shape × direction in a seeded order; each split uses its own seed so train
    and held-out clips differ in position, speed and background. Existing files with the same content are rewritten
    identically (same seed, same bytes of frames).
    """
    out = Path(root) / split
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, _split_seed(split)])
    specs = all_specs()
    rows = []
    for i in range(count):
        if i % len(specs) == 0:
            rng.shuffle(specs)
        spec = specs[i % len(specs)]
        path = out / f"{split}_{i:04d}.mp4"
        write_video(path, render_clip(spec, rng, size=size, num_frames=num_frames))
        rows.append({"path": path.name, "caption": spec.caption, **spec.__dict__})
    csv_path = out / "captions.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "caption", *ATTRIBUTES])
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def _split_seed(split: str) -> int:
    return sum(ord(c) * 31**i for i, c in enumerate(split)) % (2**31)


def parse_caption(text: str) -> dict[str, str | None]:
    """The colour, shape and direction a caption names (None where it names none, or more than one)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    found = {}
    for name, vocab in zip(ATTRIBUTES, (COLOURS, SHAPES, DIRECTIONS)):
        hits = [w for w in vocab if w in words]
        found[name] = hits[0] if len(hits) == 1 else None
    return found


def attribute_accuracy(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Fraction of predictions naming the right colour, shape and direction, and all three at once ("exact")."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")
    hits = {name: 0 for name in (*ATTRIBUTES, "exact")}
    for pred, ref in zip(predictions, references):
        p, r = parse_caption(pred), parse_caption(ref)
        right = [p[name] is not None and p[name] == r[name] for name in ATTRIBUTES]
        for name, ok in zip(ATTRIBUTES, right):
            hits[name] += ok
        hits["exact"] += all(right)
    return {name: count / len(predictions) for name, count in hits.items()}


def score_synthetic(predictions: list[str], references: list[str]) -> dict[str, float]:
    """BLEU-1/4, ROUGE-L, CIDEr and attribute accuracy (colour, shape, direction, exact) of synthetic-clip captions."""
    from vidlm.metrics.scores import score_captions

    scores = score_captions(predictions, [[r] for r in references], meteor=False)
    return {**{m: scores[m] for m in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr")},
            **attribute_accuracy(predictions, references)}


def demo_notes() -> str:
    """What the demo's numbers mean, for the results page: the vanilla model and each attribute metric."""
    colours, shapes, directions = len(COLOURS), len(SHAPES), len(DIRECTIONS)
    return (
        "The vanilla model is the tiny checkpoint as built: random weights, never trained, so its captions are noise.\n\n"
        f"colour / shape / direction: the share of clips whose caption names the right colour (of {colours}), shape "
        f"(of {shapes}) and direction (of {directions}); exact: all three right. Guessing gets "
        f"{1 / colours:.0%} colour, {1 / shapes:.0%} shape, {1 / directions:.0%} direction and "
        f"{1 / (colours * shapes * directions):.0%} exact."
    )
