"""Crash-safe row-job CSVs: the input table, one append-only part file per process, torn-row recovery, the merge.

A row job (`vidlm caption`, `vidlm tag`, …; the run loop is `vidlm.jobs.rows`) adds columns to every row of an input
CSV. Its `Layout` names them: an input column the job reads (checked on resume), the columns it adds, and its row,
status and error columns. `CAPTION` is `vidlm caption`'s layout; the rest of this text uses its names.

For `--output OUT.csv` written by W processes (W = 1 for a plain run):

    OUT.csv.part-0000R-of-0000W       rank R's rows, appended as batches finish (flushed; fsync'd every few seconds)
    OUT.csv.part-0000R-of-0000W.done  written atomically once rank R has finished its shard
    OUT.csv                           every input row once, in input order; written atomically
                                      (`vidlm.runtime.atomic`: a unique temporary per writer, then a rename) by the merge, which then removes
                                      the parts and markers
    OUT.csv.lock                      locked while a merge runs, so two merges (two `vidlm merge`, or one next to a
                                      run's own) take turns; kept, since removing a lock file races with its users
    OUT.csv.run.json                  settings and library versions; a resume with other settings is refused

Output columns: `row` (0-based position of the row in the input, header and blank lines excluded), `path` (as
written in the input), the other input columns, `text` (the caption: Open-Sora's column name), `status` (`ok` or
`failed`) and `error`. Rows are keyed by `row` and checked against `path`, never matched by position, so a failed
video cannot shift or drop another row.

A kill can tear only the last record of a part (one writer per part, appends only). A record counts only if it has
the right number of fields and re-serialises to exactly its bytes, final newline included, so a torn tail is
recognised: the part's writer cuts it off on resume and the merge ignores it. A full disk is a `CaptionError` naming
the file; what was written stays valid, so the same command resumes once space is freed.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vidlm.runtime.atomic import atomic_path, write_text

ROW, PATH, TEXT, STATUS, ERROR = "row", "path", "text", "status", "error"
OK, FAILED = "ok", "failed"
RESERVED = (ROW, TEXT, STATUS, ERROR)
_PART = re.compile(r"\.part-(\d{5})-of-(\d{5})")


class RowJobError(ValueError):
    """A problem with a row job's input, output or settings that the user can fix; the message says how."""


CaptionError = RowJobError  # the name captioning code has always raised and caught


@dataclass(frozen=True)
class Layout:
    """The columns a row job writes: `row`, `column` (the input column it reads, checked on resume), the other input columns,
    `added`, `status` (`ok`/`failed`), `error`. A job whose input may be another job's output (a captions CSV has
    row, text, status and error) names its own row/status/error columns, e.g. `tag_status`."""

    command: str = "vidlm caption"  # named in messages: "Run the same `vidlm caption` command again"
    column: str = PATH  # not "key": run records redact secret-like keys, and a layout is written into one
    column_hint: str = "Name the column that holds the video files `path`."  # said when the input lacks `column`
    added: tuple[str, ...] = (TEXT,)
    row: str = ROW
    status: str = STATUS
    error: str = ERROR

    @property
    def reserved(self) -> tuple[str, ...]:
        """The columns the job writes itself, which the input must not have."""
        return (self.row, *self.added, self.status, self.error)

    def columns(self, input_columns: list[str]) -> list[str]:
        return [self.row, self.column, *[c for c in input_columns if c != self.column], *self.added, self.status,
                self.error]


CAPTION = Layout()


@dataclass
class InputTable:
    """The rows of an input CSV (blank lines skipped), its columns as written, and the layout of the job's output."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    layout: Layout = CAPTION

    def output_columns(self) -> list[str]:
        return self.layout.columns(self.columns)

    def video_path(self, row: int) -> Path | None:
        """Where row `row`'s video is: relative paths are relative to the CSV's folder; None for an empty path."""
        value = self.rows[row][PATH].strip()
        if not value:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path


def read_input(path, layout: Layout = CAPTION) -> InputTable:
    """Read and check an input CSV: the layout's input column (`path`), at least one row, no column that the output
    adds itself.

    Read by `vidlm.data.sources.common.read_csv` (strict): UTF-8 with or without BOM, any line ending; a line that
    is not UTF-8 or has the wrong number of fields is an error naming it.
    """
    from vidlm.data.sources.common import read_csv

    path = Path(path)
    if not path.exists():
        raise CaptionError(f"Input CSV not found: {path}")
    if not path.is_file():
        raise CaptionError(f"The input {path} is not a file (a folder?): give the CSV that lists the rows")
    try:
        csv_table = read_csv(path)
    except ValueError as err:
        raise CaptionError(str(err)) from None
    header = csv_table.columns
    if layout.column not in header:
        raise CaptionError(f"{path} has no `{layout.column}` column; its columns are {header}. {layout.column_hint}")
    clash = [c for c in header if c in layout.reserved]
    if clash:
        raise CaptionError(f"{path} has column(s) {clash}, which {layout.command} writes itself "
                           f"({list(layout.reserved)}); rename them in the input")
    return InputTable(path, header, [dict(zip(header, fields)) for _, fields in csv_table.rows], layout)


def part_path(output, rank: int, world_size: int) -> Path:
    return Path(f"{output}.part-{rank:05d}-of-{world_size:05d}")


def done_path(part) -> Path:
    return Path(f"{part}.done")


def run_record_path(output) -> Path:
    return Path(f"{output}.run.json")


def list_parts(output) -> list[Path]:
    """Every part file of `output`, of any process count (an earlier run may have used another), sorted by name."""
    output = Path(output)
    prefix = output.name
    if not output.parent.is_dir():
        return []
    return sorted(p for p in output.parent.iterdir()
                  if p.name.startswith(prefix) and _PART.fullmatch(p.name[len(prefix):]))


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


@dataclass
class Scan:
    """What a part (or merged) file holds: its whole records, the length of that valid prefix and of a torn tail after it."""

    records: list[dict]
    good_bytes: int
    tail_bytes: int


def scan(path, table: InputTable) -> Scan:
    """Read a part (or merged) file written for `table`; a torn last record is reported in `tail_bytes`, not read.

    Raises `CaptionError` when the file was written for another input, or is damaged before its last record.
    """
    data = Path(path).read_bytes()
    text = data.decode("utf-8", "surrogateescape")  # round-trips any bytes, so offsets stay exact
    columns = table.output_columns()
    header = _line(columns)
    if not text.startswith(header):
        if header.startswith(text):  # empty, or the header itself torn by a kill
            return Scan([], 0, len(data))
        raise CaptionError(f"{path} does not start with the header this input gives:\n  found:    "
                           f"{text.split(chr(10), 1)[0][:300]}\n  expected: {header.strip()}\nIt was written for "
                           "another input CSV. Use another --output, or delete it and its .part-* files to start over.")
    pos, records = len(header), []
    reader = csv.reader(io.StringIO(text[pos:], newline=""))
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error:
            values = None
        line = _line(values) if values is not None and len(values) == len(columns) else None
        if line is None or not text.startswith(line, pos):
            # Not a whole record. A kill leaves such a record only at the very end of a file.
            try:
                more = next(reader, None) is not None
            except csv.Error:
                more = True
            if more:
                raise CaptionError(f"{path} is damaged after record {len(records)} (byte {pos}): something other "
                                   f"than {table.layout.command} changed it. Repair that line, or delete the file to "
                                   "process its rows again.")
            break
        records.append(_checked(dict(zip(columns, values)), table, path))
        pos += len(line)
    good = len(text[:pos].encode("utf-8", "surrogateescape"))
    return Scan(records, good, len(data) - good)


def _checked(record: dict, table: InputTable, path) -> dict:
    layout = table.layout
    row = record[layout.row]
    if not (row.isascii() and row.isdigit()) or int(row) >= len(table.rows):
        raise CaptionError(f"{path} has a record for row {row!r}, but {table.path} has rows 0–{len(table.rows) - 1}: "
                           "it was written for another input. Use another --output, or delete it to start over.")
    expected, found = table.rows[int(row)][layout.column], record[layout.column]
    if found != expected:
        raise CaptionError(f"{path}: row {row} is {found!r}, but row {row} of {table.path} is {expected!r}: the "
                           "input changed since it was written. Use another --output, or delete it to start over.")
    if record[layout.status] not in (OK, FAILED):
        raise CaptionError(f"{path}: row {row} has status {record[layout.status]!r}; expected {OK!r} or {FAILED!r}")
    record[layout.row] = int(row)
    return record


def best_records(sources: list[list[dict]], layout: Layout = CAPTION) -> dict[int, dict]:
    """One record per row: an `ok` record is final; otherwise the last failed attempt (later sources win)."""
    best: dict[int, dict] = {}
    for records in sources:
        for record in records:
            old = best.get(record[layout.row])
            if old is None or old[layout.status] != OK:
                best[record[layout.row]] = record
    return best


def read_finished(output, table: InputTable) -> dict[int, dict]:
    """The best record of every row finished so far, from the merged file and all parts (torn tails ignored)."""
    output = Path(output)
    sources = [output] if output.exists() else []
    return best_records([scan(p, table).records for p in [*sources, *list_parts(output)]], table.layout)


def _lock(fd: int, path, shared: bool = False, command: str = "vidlm caption") -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one process per part is then up to the user
        return
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CaptionError(f"{path} is being written by another running `{command}`; let it finish or stop it "
                           "first") from None


@contextmanager
def _space_for(path):
    """Turn a full disk while writing `path` into a `CaptionError` that names it and says how to go on."""
    try:
        yield
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise CaptionError(f"No space left on the device while writing {path}; free some space and run the same "
                           "command again: it resumes from the rows already written") from err


@contextmanager
def _merge_lock(output: Path):
    """Hold `OUT.csv.lock` for a merge; a second merge waits for the first, then finds the output already whole."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one merge at a time is then up to the user
        yield
        return
    with _space_for(f"{output}.lock"):
        fd = os.open(f"{output}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync_dir(folder) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the data itself is already fsync'd
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PartWriter:
    """This process's part file: locked, torn tail cut off, one write per batch, fsync'd every `fsync_every_s`."""

    def __init__(self, path, table: InputTable, fsync_every_s: float = 5.0):
        self.path, self.table, self.fsync_every_s = Path(path), table, fsync_every_s
        self.columns = table.output_columns()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(self.fd, self.path, command=table.layout.command)
            found = scan(self.path, table)
            if found.tail_bytes:
                if found.good_bytes:
                    warnings.warn(f"{self.path}: dropped a torn last row ({found.tail_bytes} bytes) left by an "
                                  "interrupted run; that row is processed again", stacklevel=2)
                os.ftruncate(self.fd, found.good_bytes)
            if found.good_bytes == 0:
                self._write(_line(self.columns))
            os.fsync(self.fd)
            if created:
                _fsync_dir(self.path.parent)
        except BaseException:
            os.close(self.fd)
            raise
        self.written = 0
        self._synced = time.monotonic()

    def write(self, records: list[dict]) -> None:
        """Append whole records in one write; a kill can tear at most the last of them."""
        self._write("".join(_line([str(r.get(c, "")) for c in self.columns]) for r in records))
        self.written += len(records)
        if time.monotonic() - self._synced >= self.fsync_every_s:
            os.fsync(self.fd)
            self._synced = time.monotonic()

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        with _space_for(self.path):  # a record cut short by a full disk is a torn tail: cut off on resume
            while data:
                data = data[os.write(self.fd, data):]

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)  # releases the lock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def mark_done(part, rows: int) -> Path:
    """Say (atomically) that `part` holds its process's whole shard."""
    done = done_path(part)
    with _space_for(done):
        write_text(done, json.dumps({"part": Path(part).name, "rows_this_run": rows, "finished": time.time()}))
    return done


def merge(output, table: InputTable) -> list[dict]:
    """Write every input row once, in input order, to `output` (atomically); then remove the parts.

    Raises `CaptionError` if a row has no record yet, or a part is still being written.
    """
    output = Path(output)
    with _merge_lock(output):
        parts = list_parts(output)
        sources = [scan(output, table).records] if output.exists() else []
        for part in parts:
            with open(part, "rb") as f:
                _lock(f.fileno(), part, shared=True, command=table.layout.command)
                sources.append(scan(part, table).records)
        best = best_records(sources, table.layout)
        missing = [i for i in range(len(table.rows)) if i not in best]
        if missing:
            raise CaptionError(
                f"Cannot merge into {output}: {len(missing)} of {len(table.rows)} rows of {table.path} have no "
                f"record yet (rows {missing[:10]}{' …' if len(missing) > 10 else ''}). Run the same "
                f"`{table.layout.command}` command again to process them; it resumes from the parts."
            )
        columns = table.output_columns()
        with _space_for(output), atomic_path(output) as tmp:
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
                f.write(_line(columns))
                for i in range(len(table.rows)):
                    f.write(_line([str(best[i].get(c, "")) for c in columns]))
        _fsync_dir(output.parent)
        for part in parts:
            part.unlink(missing_ok=True)
        for marker in output.parent.iterdir():  # markers of any process count, also of parts merged earlier
            rest = marker.name[len(output.name):]
            if marker.name.startswith(output.name) and rest.endswith(".done") and _PART.fullmatch(rest[:-5]):
                marker.unlink(missing_ok=True)
    return [best[i] for i in range(len(table.rows))]
