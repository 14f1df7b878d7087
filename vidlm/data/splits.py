"""Train / validation / test splits: seeded and reproducible, or the dataset's own.

Samples cut from one video (ShareGPT4Video keyframe captions, Shot2Story shots) share `meta["video_id"]` and always
land in the same split, so no video is seen in training and scored in testing.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def split_samples(samples: list, fractions=(0.8, 0.1, 0.1), seed: int = 0, group_key: str = "video_id") -> dict:
    """{"train": [...], "val": [...], "test": [...]}: groups of samples (by `meta[group_key]`, else the sample id)
    dealt out in a seeded order.

    The order of a group depends only on the seed and its own name, not on the order of `samples`: the same seed
    gives the same splits however the records were listed, and adding records moves few of the old ones. The
    counts are `fractions` of the groups, rounded (val and test first get at least one group each when
    their fraction is positive and there are enough groups).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test) summing to 1, "
                         f"got {fractions!r}")
    groups: dict[str, list] = {}
    for sample in samples:
        groups.setdefault(str(sample.meta.get(group_key, sample.id)), []).append(sample)
    order = sorted(groups, key=lambda name: hashlib.sha256(f"{seed}\0{name}".encode()).hexdigest())
    n = len(order)
    n_val, n_test = (round(f * n) for f in fractions[1:])
    if n >= 3:  # a positive fraction of a small dataset still gets a group to evaluate on
        n_val, n_test = (max(k, 1) if f > 0 else k for k, f in zip((n_val, n_test), fractions[1:]))
    n_train = max(n - n_val - n_test, 0)
    names = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return {split: [s for name in chosen for s in groups[name]] for split, chosen in names.items()}


def own_splits(samples: list, key: str = "split") -> dict:
    """The dataset's own splits, from `meta[key]` (Shot2Story's `20k_val.json` → "val"): {split name: samples}."""
    found: dict[str, list] = {}
    missing = [s.id for s in samples if not s.meta.get(key)]
    if missing:
        raise ValueError(f"{len(missing)} samples have no meta[{key!r}] (e.g. {missing[:5]}); load each split's "
                         f"annotation file, or use split_samples(samples, seed=...) instead")
    for sample in samples:
        found.setdefault(sample.meta[key], []).append(sample)
    return found
