"""Processed features on disk, keyed by everything they depend on, so a stale entry is never used.

A key is the SHA-256 of: the processor (its whole configuration, chat template and tokenizer: the decoding size or
pixel budget), the number of frames and the family's sampling policy (fps, pixel budget), the prompt (text and supervised spans), the video file (resolved path, size and modification time — or its content
hash with `content_hash=True`) and the sample's time window. Change any of them and the key changes: the old entry
is simply never read again (`FeatureCache.clear()` removes everything).

Entries are safetensors files of tensors only — reading one runs no code, unlike a pickle. Each is written under a
temporary name and renamed (`vidlm.runtime.atomic`), so an interrupted run never leaves a half-written entry under a
real key.
An entry is not trusted either: `VideoTextDataset` checks it against what `vidlm.collate.encode` makes
(`entry_problem`) and recomputes one that does not match.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

# Bump when the layout of cached features changes, so entries written by an older vidlm are ignored.
FORMAT_VERSION = 1
TOKENS = ("input_ids", "attention_mask", "labels")  # what `vidlm.collate.encode` makes: 1-D integer tensors
PIXELS = "pixel_values_videos"  # and one float tensor [frames, channels, height, width]
IGNORE_INDEX = -100  # as vidlm.collate (not imported: it would import the processor stack)


def processor_fingerprint(processor) -> str:
    """A hash of what decides a processor's output: its configuration, chat template and tokenizer (vocabulary,
    normalisation, special tokens). Two processors with the same fingerprint turn the same input into the same
    features."""
    parts = [type(processor).__name__]
    to_json = getattr(processor, "to_json_string", None)
    parts.append(to_json() if to_json is not None else repr(processor))
    parts.append(str(getattr(processor, "chat_template", None)))
    tokenizer = getattr(processor, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        parts.append(backend.to_str())
    elif tokenizer is not None:
        parts.append(json.dumps(sorted(tokenizer.get_vocab().items())))
    if tokenizer is not None:
        parts.append(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str))
    return _sha256("\0".join(parts))


def video_fingerprint(path, content_hash: bool = False) -> dict:
    """What identifies the video's bytes: resolved path, size and mtime (cheap), or a SHA-256 of the content."""
    path = Path(path).resolve()
    stat = path.stat()
    if content_hash:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return {"size": stat.st_size, "sha256": digest.hexdigest()}
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def feature_key(processor_key: str, num_frames: int, prompt, video, window=None, content_hash: bool = False,
                sampling: dict | None = None) -> str:
    """The cache key of one sample's features (hex SHA-256).

    processor_key: `processor_fingerprint(processor)`; prompt: a `vidlm.prompts.Prompt` or its text; sampling: the
    family's policy as run.json records it (`Sampling.record`): fps or pixel budget change the frames and patches.
    """
    text = getattr(prompt, "text", prompt)
    spans = [list(s) for s in getattr(prompt, "supervised", [])]
    ingredients = {
        "format": FORMAT_VERSION,
        "processor": processor_key,
        "num_frames": int(num_frames),
        "prompt": text,
        "supervised": spans,
        "video": video_fingerprint(video, content_hash),
        "window": None if window is None else [float(window[0]), float(window[1])],
    }
    if sampling is not None:  # absent from keys written before it was an ingredient, which stay valid
        ingredients["sampling"] = sampling
    return _sha256(json.dumps(ingredients, sort_keys=True))


class FeatureCache:
    """A folder of `<key>.safetensors` feature files (tensors only).

    >>> cache = FeatureCache("cache/features")
    >>> cache.put(key, features); cache.get(key)  # the same tensors; None for a key never written
    """

    def __init__(self, root):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, key: str, check=None) -> dict | None:
        """The features stored under `key`, or None (never written, unreadable, or refused by `check`: it is then
        removed, to be recomputed). check: features → a problem (str) or None, e.g. `entry_problem`."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            features = load_file(path)
        except (SafetensorError, OSError, ValueError):  # damaged by a crash of something else: recompute it
            path.unlink(missing_ok=True)
            return None
        problem = check(features) if check is not None else None
        if problem:
            warnings.warn(f"Feature cache entry {path}: {problem}; recomputing it", stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return features

    def put(self, key: str, features: dict) -> Path:
        """Store `features` ({name: tensor}) under `key`, atomically."""
        import torch
        from safetensors.torch import save_file

        bad = {name: type(value).__name__ for name, value in features.items() if not isinstance(value, torch.Tensor)}
        if bad:
            raise TypeError(f"Only tensors can be cached; these entries are not: {bad}")
        from vidlm.runtime.atomic import atomic_path

        path = self.path(key)
        with atomic_path(path) as partial:  # a unique temporary per writer: DataLoader workers may race
            save_file({name: value.contiguous() for name, value in features.items()}, partial)
        return path

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.safetensors")) if self.root.is_dir() else 0

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        entries = list(self.root.glob("*/*.safetensors")) if self.root.is_dir() else []
        for entry in entries:
            entry.unlink()
        return len(entries)


def entry_problem(features: dict, num_frames: int, vocab_size: int, keys=None, sampling=None) -> str | None:
    """What is wrong with a cached entry for a dataset of `num_frames` frames and a `vocab_size` tokenizer, else None.

    The entry must be what `vidlm.collate.encode` makes: exactly its keys (`keys`; by default the fixed-frame
    families' tokens + `pixel_values_videos`); token tensors 1-D, integer, one length; ids in the vocabulary; every
    label either ignored or the token at its position; visual inputs of one clip (`visual_problem`). A file that
    passes is safe to train on even if it is not the sample's (its key says it is).
    sampling: the family's `Sampling` (fps sampling: up to `num_frames` frames; Qwen's temporal patch); None: exactly
    `num_frames` frames.
    """
    import torch

    expected = set(keys) if keys is not None else {*TOKENS, PIXELS}
    if set(features) != expected:
        return f"keys {sorted(features)}, expected {sorted(expected)}"
    ids = features["input_ids"]
    for name in [*TOKENS, *(k for k in TOKEN_EXTRAS if k in features)]:
        value = features[name]
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            return f"{name} is {value.dtype}, expected an integer type"
        if value.ndim != 1 or value.shape != ids.shape or not len(value):
            return f"{name} has shape {tuple(value.shape)}, expected ({len(ids) if ids.ndim == 1 else 'n'},)"
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        return f"input_ids outside the vocabulary [0, {vocab_size})"
    labels = features["labels"]
    if not bool(((labels == IGNORE_INDEX) | (labels == ids)).all()):
        return "a label is neither ignored nor the token at its position"
    return visual_problem(features, num_frames, sampling)


TOKEN_EXTRAS = ("mm_token_type_ids",)  # per-token inputs some processors add (Qwen-VL)


def visual_problem(features: dict, num_frames: int, sampling=None) -> str | None:
    """What is wrong with one clip's visual inputs: floats; Qwen's patches exactly the rows its one-clip
    `video_grid_thw` says, with no more temporal patches than `num_frames` frames make; frames otherwise
    [frames, 3, H, W] (with a [frames, H, W] `pixel_attention_mask`), exactly `num_frames` of them, or 1 to
    `num_frames` where frames are sampled by fps."""
    for name, value in features.items():
        if name.startswith("pixel_values") and not value.dtype.is_floating_point:
            return f"{name} is {value.dtype}, expected a float type"
    grid = features.get("video_grid_thw")
    if grid is not None:
        if grid.dtype.is_floating_point or grid.shape != (1, 3) or int(grid.min()) < 1:
            return f"video_grid_thw is {tuple(grid.shape)} {grid.dtype}, expected one positive integer (t, h, w) row"
        temporal = sampling.temporal_patch if sampling is not None else 1
        if int(grid[0, 0]) > -(-num_frames // temporal):
            return f"video_grid_thw {grid.tolist()} has more temporal patches than {num_frames} frames make"
        patches = features.get(PIXELS)
        if patches is None or patches.ndim != 2 or patches.shape[0] != int(grid.prod()):
            shape = None if patches is None else tuple(patches.shape)
            return f"{PIXELS} has shape {shape}, expected ({int(grid.prod())}, patch) as video_grid_thw {grid.tolist()}"
        times = features.get("second_per_grid_ts")
        if times is not None and (times.shape != (1,) or not times.dtype.is_floating_point):
            return f"second_per_grid_ts is {tuple(times.shape)} {times.dtype}, expected one float"
        return None
    name = next((k for k in (PIXELS, "pixel_values") if k in features), None)
    if name is None:
        return "no pixel input"
    pixels = features[name]
    fps = sampling is not None and sampling.fps is not None
    if (pixels.ndim != 4 or pixels.shape[1] != 3
            or not (1 <= pixels.shape[0] <= num_frames if fps else pixels.shape[0] == num_frames)):
        frames = f"1 to {num_frames}" if fps else num_frames
        return f"{name} has shape {tuple(pixels.shape)}, expected ({frames} frames, 3, height, width)"
    mask = features.get("pixel_attention_mask")
    if mask is not None and (mask.shape != (pixels.shape[0], *pixels.shape[2:]) or mask.dtype.is_floating_point):
        return f"pixel_attention_mask has shape {tuple(mask.shape)}, expected {(pixels.shape[0], *pixels.shape[2:])}"
    return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
