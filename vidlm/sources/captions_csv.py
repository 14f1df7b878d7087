"""A plain captions CSV (`path`, `caption`; Open-Sora's `text` column is read as the caption too) → `Sample`s.

Unlike `vidlm.data.read_captions_csv`, which refuses a file with any bad row, this reports bad rows and goes on.
"""

from __future__ import annotations

import csv
from pathlib import Path

from vidlm.data import Sample
from vidlm.sources.common import Loaded, SkipReport, finish, usable_video
from vidlm.synthetic import PROMPT


def load_captions_csv(path, instruction: str = PROMPT, video_dir=None, check_videos: bool = False,
                      warn: bool = True) -> Loaded:
    """Samples from a CSV with `path` (relative to `video_dir`, default the CSV's folder) and `caption` (or `text`).

    Other columns go to `Sample.meta`. Returns `(samples, report)`; rows are named `row N` (row 1 is the header).
    """
    path = Path(path)
    video_dir = Path(video_dir) if video_dir is not None else path.parent
    report = SkipReport(str(path))
    samples = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        caption_column = "caption" if "caption" in columns else "text" if "text" in columns else None
        if "path" not in columns or caption_column is None:
            raise ValueError(f"{path}: needs a 'path' column and a 'caption' (or 'text') column; found {columns}")
        for row_number, row in enumerate(reader, start=2):
            label = f"row {row_number}"
            report.records += 1
            video, caption = (row.get("path") or "").strip(), (row.get(caption_column) or "").strip()
            if not video:
                report.add(label, "missing field 'path'")
                continue
            if not caption:
                report.add(label, "empty caption", video)
                continue
            video_path = Path(video) if Path(video).is_absolute() else video_dir / video
            if not usable_video(video_path, label, report):
                continue
            meta = {k: v for k, v in row.items() if k not in ("path", caption_column) and k is not None}
            samples.append(Sample(id=video_path.stem, video=str(video_path), answer=caption, instruction=instruction,
                                  meta=meta, source=str(row.get("source") or "") or path.stem))
    return finish(samples, report, check_videos, warn)
