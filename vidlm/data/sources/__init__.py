"""Dataset loaders: every format in, one `vidlm.data.samples.Sample` out, and a report of every record left behind.

    samples, report = load_shot2story("20k_val.json", video_dir="videos", task="shots")
    print(report)  # "…/20k_val.json: 120 records → 540 samples, 3 skipped (2 video not found, 1 empty caption)"

Formats (`load_samples(format, ...)` picks one by name):
- "sharegpt4video": `load_sharegpt4video` — sharegpt4video_40k.jsonl + per-source zips (summary or keyframe captions);
- "shot2story": `load_shot2story` — single-shot captioning or multi-shot summarization;
- "llava": `load_llava_json` — LLaVA conversation JSON (multi-turn);
- "csv": `load_captions_csv` — `path`, `caption` columns.
A loader never stops on one bad record: missing or unreadable videos and malformed records (missing fields, wrong
types, empty captions) are skipped and listed, with their id and reason, in the returned `SkipReport` — and a
`SkippedRecordsWarning` shows its summary.
"""

from __future__ import annotations

from vidlm.data.sources.captions_csv import load_captions_csv
from vidlm.data.sources.common import Loaded, Skip, SkippedRecordsWarning, SkipReport
from vidlm.data.sources.llava_json import load_llava_json
from vidlm.data.sources.sharegpt4video import extract_member, index_zips, load_sharegpt4video
from vidlm.data.sources.shot2story import load_shot2story

LOADERS = {"sharegpt4video": load_sharegpt4video, "shot2story": load_shot2story, "llava": load_llava_json,
           "csv": load_captions_csv}


def load_samples(format: str, annotations, **options) -> Loaded:
    """Load `annotations` with the loader of `format` (see `LOADERS`); options go to that loader."""
    if format not in LOADERS:
        raise ValueError(f"Unknown dataset format {format!r}; known: {sorted(LOADERS)}")
    return LOADERS[format](annotations, **options)


__all__ = ["LOADERS", "Loaded", "Skip", "SkipReport", "SkippedRecordsWarning", "extract_member", "index_zips",
           "load_captions_csv", "load_llava_json", "load_samples", "load_sharegpt4video", "load_shot2story"]
