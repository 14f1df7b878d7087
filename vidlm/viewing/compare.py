"""Vanilla vs fine-tuned: score tables, side-by-side captions, best and worst samples, files on disk."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from vidlm.runtime.atomic import atomic_path, write_text


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
    `per_sample`, each model's per-sample metrics), `metrics.json` and `metrics.md` (the corpus scores); each is
    written atomically, so a crash or a full disk leaves the previous file or none."""
    for name, values in captions.items():
        if len(values) != len(ids):
            raise ValueError(f"{name}: {len(values)} captions for {len(ids)} videos")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    detailed = {name: s.per_sample for name, s in scores.items() if getattr(s, "per_sample", None)}
    metric_columns = [(name, metric) for name, rows in detailed.items() for metric in rows[0]]
    paths = {"captions": out / "captions.csv", "metrics": out / "metrics.json", "table": out / "metrics.md"}
    with atomic_path(paths["captions"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "video", "reference", *captions, *(f"{n} {m}" for n, m in metric_columns)])
        for i, row in enumerate(zip(ids, videos, references)):
            per_sample = [detailed[n][i][m] for n, m in metric_columns]
            writer.writerow([row[0], row[1], _joined(row[2]), *(captions[n][i] for n in captions), *per_sample])
    write_text(paths["metrics"], json.dumps({n: dict(s) for n, s in scores.items()}, indent=2) + "\n")
    write_text(paths["table"], scores_table(scores) + "\n")
    return paths


def _joined(reference) -> str:
    return reference if isinstance(reference, str) else " || ".join(reference)


def _cell(text: str) -> str:
    return (text or "∅").replace("|", "\\|").replace("\n", " ")


SAME = 1e-9  # per-sample deltas smaller than this count as unchanged (BLEU's smoothing leaves ~1e-18 residues)


def change(delta: float) -> str:
    """"improved", "worse" or "unchanged" for a per-sample score delta."""
    return "improved" if delta > SAME else "worse" if delta < -SAME else "unchanged"


@dataclass
class Comparison:
    """Vanilla vs fine-tuned, one entry per video: what the GIF viewer and the HTML page show.

    Build it in memory with `make_comparison`, or from the files `write_comparison` wrote with `read_comparison`.
    """

    ids: list[str]
    videos: list[str]
    references: list[list[str]]
    captions: dict[str, list[str]]  # model name -> one caption per video
    per_sample: dict[str, list[dict]]  # model name -> one {metric: score} per video
    corpus: dict[str, dict]  # model name -> {metric: corpus score}
    base: str = "vanilla"
    tuned: str = "fine-tuned"
    num_frames: int | None = None  # frames per clip the models saw, when known (from run.json)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def metrics(self) -> list[str]:
        """Per-sample metrics both models have numbers for (METEOR is absent without Java)."""
        rows = self.per_sample[self.base] + self.per_sample[self.tuned]
        return [m for m in self.per_sample[self.tuned][0] if all(r.get(m) is not None for r in rows)]

    def deltas(self, metric: str) -> list[float]:
        """Per-sample `tuned − base` score on `metric`."""
        if metric not in self.metrics:
            raise ValueError(f"No per-sample {metric!r} for both models; available: {self.metrics}")
        return [t[metric] - b[metric] for b, t in zip(self.per_sample[self.base], self.per_sample[self.tuned])]


def make_comparison(ids: list[str], videos: list[str], references: list, captions: dict[str, list[str]],
                    scores: dict | None = None, base: str = "vanilla", tuned: str = "fine-tuned",
                    num_frames: int | None = None) -> Comparison:
    """A `Comparison` from captions in memory; per-sample scores come from `scores[name].per_sample` where given,
    else are computed with `score_captions` (BLEU, ROUGE-L, CIDEr; no METEOR, so no Java)."""
    for name in (base, tuned):
        if name not in captions:
            raise ValueError(f"No captions of {name!r}; models: {list(captions)} (pass base=… / tuned=…)")
    for name, values in captions.items():
        if len(values) != len(ids):
            raise ValueError(f"{name}: {len(values)} captions for {len(ids)} videos")
    if not (len(ids) == len(videos) == len(references)) or not ids:
        raise ValueError(f"Need as many videos and references as ids (≥ 1): {len(ids)} ids, {len(videos)} videos, "
                         f"{len(references)} references")
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    scores = dict(scores or {})
    per_sample, corpus = {}, {}
    for name in captions:
        given = scores.get(name)
        if getattr(given, "per_sample", None) is None:
            from vidlm.metrics.scores import score_captions

            computed = score_captions(captions[name], references, meteor=False)
            given = computed if given is None else given
            per_sample[name] = computed.per_sample
        else:
            per_sample[name] = given.per_sample
        corpus[name] = dict(given)
    return Comparison(list(ids), list(videos), references, dict(captions), per_sample, corpus, base, tuned,
                      num_frames)


def read_comparison(folder, video_root=None, base: str = "vanilla", tuned: str = "fine-tuned") -> Comparison:
    """The `Comparison` in a folder `write_comparison` wrote (captions.csv, metrics.json; run.json if there).

    Relative video paths are looked up from `video_root` (default: the folder), then from the current directory.
    Per-sample scores missing from captions.csv are computed (without METEOR).
    """
    folder = Path(folder)
    table = folder / "captions.csv"
    if not table.is_file():
        raise FileNotFoundError(f"No captions.csv in {folder}; write one with write_comparison or evaluate_models")
    with open(table, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = list(reader)
    if header[:3] != ["id", "video", "reference"]:
        raise ValueError(f"{table}: expected columns id, video, reference, then captions; found {header}")
    models, metric_columns = [], {}
    for column, name in enumerate(header[3:], start=3):
        owner = next((m for m in models if name.startswith(m + " ")), None)
        if owner is None and not metric_columns:
            models.append(name)
        elif owner is not None:
            metric_columns[column] = (owner, name[len(owner) + 1:])
    root = Path(video_root) if video_root is not None else folder
    captions = {m: [row[3 + k] for row in rows] for k, m in enumerate(models)}
    scores = _scores_from_columns(rows, models, metric_columns, folder / "metrics.json")
    record = folder / "run.json"
    num_frames = json.loads(record.read_text()).get("config", {}).get("num_frames") if record.is_file() else None
    return make_comparison([r[0] for r in rows], [_resolve(r[1], root) for r in rows],
                           [r[2].split(" || ") for r in rows], captions, scores, base, tuned, num_frames)


def _scores_from_columns(rows, models, metric_columns, metrics_path) -> dict:
    from vidlm.metrics.scores import CaptionScores

    corpus = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    scores = {}
    for model in models:
        columns = {c: metric for c, (owner, metric) in metric_columns.items() if owner == model}
        per_sample = [{metric: float(row[c]) if row[c] else None for c, metric in columns.items()} for row in rows]
        if columns:
            scores[model] = CaptionScores(corpus.get(model, {}), per_sample)
        elif model in corpus:
            scores[model] = corpus[model]  # corpus numbers as written; per-sample ones get computed
    return scores


def _resolve(video: str, root: Path) -> str:
    if Path(video).is_absolute():
        return video
    for candidate in (root / video, Path.cwd() / video):
        if candidate.exists():
            return str(candidate.resolve())
    return str(root / video)
