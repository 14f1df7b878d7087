"""Vanilla vs fine-tuned: score both sets of captions, show them side by side, write them to disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def side_by_side(ids: list[str], references: list[str], captions: dict[str, list[str]], limit: int = 12) -> str:
    """A markdown table: one row per video, the reference, then each model's caption."""
    names = list(captions)
    lines = ["| video | reference | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    for i, (vid, ref) in enumerate(zip(ids, references)):
        if i == limit:
            break
        cells = [vid, ref, *(captions[name][i] for name in names)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def scores_table(scores: dict[str, dict[str, float]]) -> str:
    """A markdown table: one column per model, one row per metric."""
    names = list(scores)
    metrics = list(next(iter(scores.values())))
    lines = ["| metric | " + " | ".join(names) + " |", "|" + "---|" * (1 + len(names))]
    lines += [f"| {m} | " + " | ".join(f"{scores[n][m]:.3f}" for n in names) + " |" for m in metrics]
    return "\n".join(lines)


def write_comparison(output_dir, ids: list[str], videos: list[str], references: list[str],
                     captions: dict[str, list[str]], scores: dict[str, dict[str, float]]) -> dict[str, Path]:
    """Write `captions.csv` (one row per video: id, video, reference, one column per model) and `metrics.json`."""
    for name, values in captions.items():
        if len(values) != len(ids):
            raise ValueError(f"{name}: {len(values)} captions for {len(ids)} videos")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "captions.csv", out / "metrics.json"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "video", "reference", *captions])
        for i, row in enumerate(zip(ids, videos, references)):
            writer.writerow([*row, *(captions[name][i] for name in captions)])
    json_path.write_text(json.dumps(scores, indent=2) + "\n")
    return {"captions": csv_path, "metrics": json_path}


def _cell(text: str) -> str:
    return (text or "∅").replace("|", "\\|").replace("\n", " ")
