"""A plain captions CSV (`path`, `caption`; Open-Sora's `text` column is read as the caption too) → `Sample`s.

The one reader of captions CSVs into samples: reporting (bad rows skipped and listed in the `SkipReport`) or strict
(`vidlm.data.samples.read_captions_csv`: any bad row is an error listing them all). The file is read by
`vidlm.data.sources.common.read_csv` (UTF-8 with or without BOM, any line ending; invalid UTF-8 named by line).
"""

from __future__ import annotations

from pathlib import Path

from vidlm.data.samples import Sample
from vidlm.data.sources.common import OUTSIDE, Loaded, SkipReport, finish, path_in, read_csv, usable_video
from vidlm.prompts import DEFAULT_PROMPT


def load_captions_csv(path, instruction: str = DEFAULT_PROMPT, video_dir=None, check_videos: bool = False,
                      warn: bool = True, strict: bool = False) -> Loaded:
    """Samples from a CSV with `path` (relative to `video_dir`, default the CSV's folder) and `caption` (or `text`).

    Paths: users write these CSVs themselves, so an absolute path is taken as given (nothing is written at it); a
    relative one must stay inside video_dir — one that leads out through `..` or a symlink is skipped ("path outside
    its folder"): write it as an absolute path, or pass a video_dir that holds it.
    Other columns go to `Sample.meta`. Returns `(samples, report)`; rows are named `line N` (the header is line 1).
    strict: raise a `ValueError` listing every bad row instead of skipping them.
    """
    path = Path(path)
    video_dir = Path(video_dir) if video_dir is not None else path.parent
    report = SkipReport(str(path))
    table = read_csv(path, None if strict else report)
    columns = table.columns
    caption_column = "caption" if "caption" in columns else "text" if "text" in columns else None
    if "path" not in columns or caption_column is None:
        raise ValueError(f"{path}: needs a 'path' column and a 'caption' (or 'text') column; found {columns}")
    samples = []
    for line, fields in table.rows:
        row = dict(zip(columns, fields))
        label = f"line {line}"
        report.records += 1
        video, caption = row["path"].strip(), row[caption_column].strip()
        if not video:
            report.add(label, "empty path")
            continue
        if not caption:
            report.add(label, "empty caption", video)
            continue
        try:
            video_path = path_in(video_dir, video, allow_absolute=True)
        except ValueError as err:
            report.add(label, OUTSIDE, err)
            continue
        if not usable_video(video_path, label, report):
            continue
        meta = {k: v for k, v in row.items() if k not in ("path", caption_column)}
        samples.append(Sample(id=video_path.stem, video=str(video_path), answer=caption, instruction=instruction,
                              meta=meta, source=str(row.get("source") or "") or path.stem))
    if strict and report.skipped:
        listed = "\n  ".join(f"{s.record}: {s.reason}" + (f": {s.detail}" if s.detail else "") for s in report.skipped)
        raise ValueError(f"{path}: {len(report.skipped)} bad row(s) — fix or remove them:\n  {listed}")
    return finish(samples, report, check_videos, warn)
