"""What every dataset loader shares: the skip report, the (samples, report) result, reading text files (JSON, JSON
Lines, CSV) under one encoding rule, and finding video files without leaving their folder.

The encoding rule, for every text file vidlm reads: UTF-8, with or without a byte-order mark, any line ending (LF,
CRLF). Invalid UTF-8 is never a bare `UnicodeDecodeError`: a line-based file (CSV, JSON Lines) read with a
`SkipReport` skips that line and reports it with its number; otherwise it is a `ValueError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
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


OUTSIDE = "path outside its folder"  # the skip reason of a path that `path_in` refuses


def path_in(root, value, allow_absolute: bool = False) -> Path:
    """`root / value`, checked to lie inside `root` once `..` and symlinks are resolved; else `ValueError` saying why.

    Every path built from a record goes through here, so a record can make a loader neither read nor write outside
    its folder. Downloaded records are untrusted: their absolute paths are refused. allow_absolute: take an absolute
    `value` as given — for files users write themselves (a captions CSV), where an absolute path is an explicit
    choice and nothing is written at it.
    """
    path = Path(value)
    if path.is_absolute():
        if allow_absolute:
            return path
        raise ValueError(f"{value!r} is an absolute path; paths in these records must be relative to {root}")
    joined = Path(root) / path
    real_root = os.path.realpath(root)
    if not os.path.realpath(joined).startswith(real_root.rstrip(os.sep) + os.sep):
        if os.path.normpath(joined).startswith(os.path.normpath(root).rstrip(os.sep) + os.sep):
            raise ValueError(f"{value!r} goes through a symlink to {os.path.realpath(joined)}, outside {root}")
        raise ValueError(f"{value!r} leads outside {root}")
    return joined


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


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def usable_video(path: Path, record_id: str, report: SkipReport) -> bool:
    """Whether the video of record `record_id` is a regular, non-empty file; if not, the record is reported."""
    try:
        mode = path.stat().st_mode
    except OSError:
        report.add(record_id, "video not found", path)
        return False
    if not stat.S_ISREG(mode):  # a FIFO would block the decoder, /dev/zero never ends
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        report.add(record_id, "not a regular file", f"{path} is {kind}")
        return False
    problem = video_problem(path)
    if problem:
        report.add(record_id, "unreadable video", f"{path} ({problem})")
        return False
    return True


# Text files

_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8


def _bad_byte(text: str) -> str | None:
    """'byte 0x.. at column N' for the first byte of `text` (decoded with surrogateescape) that is not UTF-8."""
    found = _SURROGATE.search(text)
    return None if found is None else f"byte 0x{ord(found.group()) - 0xDC00:02x} at column {found.start() + 1}"


def read_text(path) -> str:
    """The text of a whole file under the encoding rule; invalid UTF-8 is a `ValueError` naming file and line."""
    data = Path(path).read_bytes().removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x}); save it as UTF-8 "
                         "text") from None


def read_json(path, hint: str = ""):
    """The JSON value in `path`; invalid JSON or UTF-8 is a `ValueError` naming the file (`hint`: what to do)."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}){'; ' + hint if hint else ''}") \
            from err


def read_json_list(path: Path, hint: str) -> list:
    """The records of a file holding one JSON list; `hint` finishes the error for invalid JSON (what to do)."""
    records = read_json(path, hint)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of records, got a {type(records).__name__}")
    return records


def read_jsonl(path, report: SkipReport) -> list[tuple[str, dict]]:
    """(line label, object) for each line of a JSON Lines file that parses as a JSON object; the others (invalid
    UTF-8, invalid JSON, not an object) go to `report`. Blank lines are not records."""
    records = []
    for number, line in enumerate(Path(path).read_bytes().removeprefix(_BOM).splitlines(), start=1):
        if not line.strip():
            continue
        report.records += 1
        label = f"line {number}"
        text = line.decode("utf-8", "surrogateescape")
        bad = _bad_byte(text)
        if bad:
            report.add(label, "invalid UTF-8", bad)
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            report.add(label, "invalid JSON", err.msg)
            continue
        if not isinstance(record, dict):
            report.add(label, "wrong type: the record is not an object", type(record).__name__)
            continue
        records.append((label, record))
    return records


@dataclass
class CsvTable:
    """A CSV's header and its rows, each with the line it starts on (the header is line 1; blank lines left out)."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, list[str]]]


def read_csv(path, report: SkipReport | None = None) -> CsvTable:
    """Read a CSV under the encoding rule: the one reader of every captions CSV (`vidlm.data.samples.read_captions_csv`,
    `load_captions_csv`, `vidlm caption`'s input).

    Strict (no `report`): a line with invalid UTF-8 or with more or fewer fields than the header is an error, and one
    `ValueError` lists every such line. Reporting (a `report`): such a row is skipped and listed as `line N`.
    Either way an empty or header-only file, duplicated column names or a header that is not UTF-8 is a
    `ValueError` naming the file.
    """
    path = Path(path)
    text = path.read_bytes().removeprefix(_BOM).decode("utf-8", "surrogateescape")  # bad bytes found per row below
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows, problems, start = None, [], [], 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields:
                continue  # a blank line
            bad = _bad_byte(",".join(fields))
            if header is None:
                if bad:
                    raise ValueError(f"{path}, line {line}: the header is not valid UTF-8 ({bad}); save the file as "
                                     "UTF-8 text")
                header = fields
                continue
            if bad:
                problems.append((line, "invalid UTF-8", bad))
            elif len(fields) != len(header):
                problems.append((line, "wrong number of fields", f"{len(fields)} fields where the header has "
                                 f"{len(header)}: {fields[:6]}; fix the quoting or the commas there"))
            else:
                rows.append((line, fields))
    except csv.Error as err:
        raise ValueError(f"{path}, line {reader.line_num}: not a readable CSV: {err}") from None
    if header is None:
        raise ValueError(f"{path} is empty (no rows): it needs a header line, then one row per video")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ValueError(f"{path} has duplicated column name(s) {duplicated}; make the header names unique")
    if problems and report is None:
        listed = "\n  ".join(f"line {n}: {reason}: {detail}" for n, reason, detail in problems[:20])
        raise ValueError(f"{path}: {len(problems)} bad line(s) — fix them:\n  {listed}")
    for number, reason, detail in problems:
        report.add(f"line {number}", reason, detail)
        report.records += 1
    if not rows and not problems:
        raise ValueError(f"{path} has a header but no rows: add one row per video")
    return CsvTable(path, header, rows)


def finish(samples: list, report: SkipReport, check_videos: bool, warn: bool) -> Loaded:
    """The end of every loader: optionally decode-check the videos, count, warn about skips, return `Loaded`."""
    if check_videos:
        samples = drop_unreadable(samples, report)
    report.samples = len(samples)
    if warn:
        report.warn()
    return Loaded(samples, report)


def drop_unreadable(samples: list, report: SkipReport, workers: int = 2) -> list:
    """Decode-check every distinct video (`vidlm.video.scan.scan_videos`, quick); skip the samples of unusable ones."""
    from vidlm.video.scan import scan_videos

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
