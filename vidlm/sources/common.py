"""What every dataset loader shares: the skip report, the (samples, report) result, and finding video files."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class SkippedRecordsWarning(UserWarning):
    """A loader skipped records (missing or unreadable videos, malformed records); the message lists them."""


@dataclass
class Skip:
    """One record a loader could not use: which one, and why."""

    record: str  # the record's id (or its line / position when it has none)
    reason: str  # e.g. "video not found", "empty caption"
    detail: str = ""  # the value or path involved


@dataclass
class SkipReport:
    """Every record a load skipped, with why; `summary()` is the readable version (also `str(report)`)."""

    name: str  # the annotation file
    records: int = 0  # records read
    samples: int = 0  # samples produced
    skipped: list[Skip] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)  # usable records not chosen (other sources, over a cap)

    def add(self, record, reason: str, detail="") -> None:
        self.skipped.append(Skip(str(record), reason, str(detail)))

    def leave_out(self, why: str) -> None:
        """Count a usable record that was not chosen (not a problem, but never silent either)."""
        self.left_out[why] += 1

    def __len__(self) -> int:
        return len(self.skipped)

    def __bool__(self) -> bool:
        return True  # a report with nothing skipped is still a report

    def reasons(self) -> Counter:
        """How many records were skipped for each reason."""
        return Counter(s.reason for s in self.skipped)

    def summary(self, limit: int = 20) -> str:
        """Counts, then up to `limit` skipped records with their reason."""
        head = f"{self.name}: {self.records} records → {self.samples} samples, {len(self.skipped)} skipped"
        if self.skipped:
            head += " (" + ", ".join(f"{n} {reason}" for reason, n in self.reasons().most_common()) + ")"
        if self.left_out:
            head += "; left out by choice: " + ", ".join(f"{n} {why}" for why, n in self.left_out.items())
        lines = [head] + [f"  {s.record}: {s.reason}" + (f": {s.detail}" if s.detail else "")
                          for s in self.skipped[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"  … and {len(self.skipped) - limit} more (report.skipped has them all)")
        return "\n".join(lines)

    __str__ = summary

    def warn(self) -> None:
        """Issue a `SkippedRecordsWarning` with the summary when anything was skipped."""
        if self.skipped:
            warnings.warn(self.summary(), SkippedRecordsWarning, stacklevel=3)


class Loaded(NamedTuple):
    """What a loader returns: `samples, report = load_...(...)`."""

    samples: list
    report: SkipReport


def find_video(candidates) -> Path | None:
    """The first of `candidates` that is a file, else None."""
    for candidate in candidates:
        if candidate is not None and Path(candidate).is_file():
            return Path(candidate)
    return None


def video_problem(path: Path) -> str | None:
    """Why a video found on disk cannot be used without decoding it (an empty file), else None."""
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def read_json_list(path: Path, hint: str) -> list:
    """The records of a file holding one JSON list; `hint` finishes the error for invalid JSON (what to do)."""
    import json

    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); {hint}") from err
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of records, got a {type(records).__name__}")
    return records


def usable_video(path: Path, record_id: str, report: SkipReport) -> bool:
    """Whether the video of record `record_id` exists and is not empty; if not, the record is reported as skipped."""
    if not path.is_file():
        report.add(record_id, "video not found", path)
        return False
    problem = video_problem(path)
    if problem:
        report.add(record_id, "unreadable video", f"{path} ({problem})")
        return False
    return True


def finish(samples: list, report: SkipReport, check_videos: bool, warn: bool) -> Loaded:
    """The end of every loader: optionally decode-check the videos, count, warn about skips, return `Loaded`."""
    if check_videos:
        samples = drop_unreadable(samples, report)
    report.samples = len(samples)
    if warn:
        report.warn()
    return Loaded(samples, report)


def drop_unreadable(samples: list, report: SkipReport, workers: int = 2) -> list:
    """Decode-check every distinct video (`vidlm.scan.scan_videos`, quick) and skip the samples of unusable ones."""
    from vidlm.scan import scan_videos

    videos = sorted({s.video for s in samples})
    verdicts = {r.path: r for r in scan_videos(videos, workers=workers, full=False, progress=False)}
    kept = []
    for sample in samples:
        verdict = verdicts[sample.video]
        if verdict.usable:
            kept.append(sample)
        else:
            report.add(sample.id, "unreadable video", f"{sample.video} ({verdict.reason})")
    return kept


def text_field(record: dict, key: str) -> str | None:
    """record[key] stripped when it is a non-empty string; None otherwise (the caller says why)."""
    value = record.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def field_problem(record, key: str, kind: type | tuple = str) -> tuple[str, str] | None:
    """(reason, detail) when record[key] is unusable — missing, of the wrong type or empty — else None."""
    if not isinstance(record, dict):
        return "wrong type: the record is not an object", f"{type(record).__name__} {record!r:.60}"
    if key not in record or record[key] is None:
        return f"missing field '{key}'", ""
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        return f"wrong type for '{key}'", f"{type(value).__name__} {value!r:.60}, expected {names}"
    if isinstance(value, (str, list)) and not (value.strip() if isinstance(value, str) else value):
        return f"empty '{key}'", ""
    return None


def first_problem(record, checks: dict) -> tuple[str, str] | None:
    """The first `field_problem` among {key: kind}, or None when every field is usable."""
    for key, kind in checks.items():
        problem = field_problem(record, key, kind)
        if problem:
            return problem
    return None
