"""Vanilla vs fine-tuned: score tables, side-by-side captions, best and worst samples, files on disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def side_by_side(ids: list[str], references: list, captions: dict[str, list[str]], limit: int = 12) -> str:
    """A markdown table: one row per video, its reference(s), then each model's caption."""
    names = list(captions)
    lines = ["| video | reference | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    for i, (vid, ref) in enumerate(zip(ids, references)):
        if i == limit:
            break
        cells = [vid, _joined(ref), *(captions[name][i] for name in names)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def scores_table(scores: dict[str, dict]) -> str:
    """A markdown table: one column per model, one row per metric (— where a metric was unavailable)."""
    names = list(scores)
    metrics = list(next(iter(scores.values())))
    lines = ["| metric | " + " | ".join(names) + " |", "|" + "---|" * (1 + len(names))]
    for m in metrics:
        lines.append(f"| {m} | " + " | ".join("—" if scores[n][m] is None else f"{scores[n][m]:.3f}" for n in names)
                     + " |")
    return "\n".join(lines)


def ranked_by_gain(ids: list[str], references: list, captions: dict[str, list[str]], scores: dict,
                   metric: str = "CIDEr", base: str = "vanilla", tuned: str = "fine-tuned") -> list[dict]:
    """Samples sorted by how much `tuned` gained over `base` on a per-sample metric, largest gain first."""
    rows = [{"id": vid, "reference": _joined(ref), base: captions[base][i], tuned: captions[tuned][i],
             "gain": scores[tuned].per_sample[i][metric] - scores[base].per_sample[i][metric]}
            for i, (vid, ref) in enumerate(zip(ids, references))]
    return sorted(rows, key=lambda r: r["gain"], reverse=True)


def rows_table(rows: list[dict]) -> str:
    """A markdown table of dict rows (keys as columns; floats to 3 decimals)."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(f"{r[k]:+.3f}" if isinstance(r[k], float) else _cell(str(r[k])) for k in keys) + " |"
              for r in rows]
    return "\n".join(lines)


def write_comparison(output_dir, ids: list[str], videos: list[str], references: list,
                     captions: dict[str, list[str]], scores: dict[str, dict]) -> dict[str, Path]:
    """Write `captions.csv` (one row per video: id, video, reference(s), each model's caption and, where scores carry
    `per_sample`, each model's per-sample metrics), `metrics.json` and `metrics.md` (the corpus scores)."""
    for name, values in captions.items():
        if len(values) != len(ids):
            raise ValueError(f"{name}: {len(values)} captions for {len(ids)} videos")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    detailed = {name: s.per_sample for name, s in scores.items() if getattr(s, "per_sample", None)}
    metric_columns = [(name, metric) for name, rows in detailed.items() for metric in rows[0]]
    paths = {"captions": out / "captions.csv", "metrics": out / "metrics.json", "table": out / "metrics.md"}
    with open(paths["captions"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "video", "reference", *captions, *(f"{n} {m}" for n, m in metric_columns)])
        for i, row in enumerate(zip(ids, videos, references)):
            per_sample = [detailed[n][i][m] for n, m in metric_columns]
            writer.writerow([row[0], row[1], _joined(row[2]), *(captions[n][i] for n in captions), *per_sample])
    paths["metrics"].write_text(json.dumps({n: dict(s) for n, s in scores.items()}, indent=2) + "\n")
    paths["table"].write_text(scores_table(scores) + "\n")
    return paths


def _joined(reference) -> str:
    return reference if isinstance(reference, str) else " || ".join(reference)


def _cell(text: str) -> str:
    return (text or "∅").replace("|", "\\|").replace("\n", " ")
