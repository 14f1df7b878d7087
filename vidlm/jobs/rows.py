"""Process every row of a CSV into new columns: batched, crash-safe, resumable, one shard per process, merged.

The run loop shared by `vidlm caption`, `vidlm tag` and any command of that shape. A job names its columns (a
`Layout`), says what its output depends on (`settings`: a resume with other settings is refused) and supplies the
work: a function that receives this process's rows still to do and yields lists of records, one list per batch,
each record `{layout.row: row, <added columns>, layout.status: "ok" or "failed", layout.error: "..."}` (the input
columns are filled in here). Each list is appended to this process's part file as one write, so a `kill -9` loses at
most the batch in flight; running the same command again does only the rows not yet written.

    from vidlm.jobs.caption_files import Layout, read_input
    from vidlm.jobs.rows import RowJob, check_paths, run_rows

    layout = Layout(command="vidlm motion", column="path", column_hint="Name the column of video files `path`.",
                    added=("cmotion",), row="motion_row", status="motion_status", error="motion_error")
    check_paths(config.input_csv, config.output_csv)       # before anything slow
    table = read_input(config.input_csv, layout)           # RowJobError (one line) for a missing column, …

    def work(shard):                                       # called only when shard.rows is not empty,
        detector = load_detector()                         # so a finished run loads nothing
        batches = [shard.rows[i:i + 16] for i in range(0, len(shard.rows), 16)]
        return ([{"motion_row": r, "cmotion": detector(table.video_path(r)), "motion_status": "ok",
                  "motion_error": ""} for r in batch] for batch in batches)   # timed from here (rows/s)

    result = run_rows(RowJob(table, config.output_csv, settings={"threshold": config.threshold}, config=config,
                             progress=config.progress, unit="video", desc="motion"), work)
    result.processed, result.ok, result.failed, result.merged   # ok/failed where this process merged (rank 0)

Under torchrun / accelerate launch (`vidlm.runtime.launch`) each process takes rows `row % WORLD_SIZE == RANK`
(`shard.rows`, in input order; reorder them freely) into its own part; rank 0 waits for every part's completion
marker and merges: every input row once, in input order, atomically. A row that failed is kept on resume unless
`retry_failed`. The run record `OUT.csv.run.json` holds the config, settings, versions, counts and the layout, so
`vidlm merge IN.csv --output OUT.csv` (`merge_rows`) can merge any job's parts. Files and protocol:
`vidlm.jobs.caption_files`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vidlm.jobs.caption_files import (CAPTION, FAILED, OK, InputTable, Layout, PartWriter, RowJobError, done_path,
                                 list_parts, mark_done, merge, part_path, read_finished, read_input,
                                 run_record_path)
from vidlm.runtime.launch import ProcessGroup, ProcessInfo, process_info, wait_for_parts


@dataclass
class RowJob:
    """One run of a row job over `table` into `output`."""

    table: InputTable
    output: str | Path
    settings: dict  # what the new columns depend on; JSON-able; a resume with other values is refused
    config: object = None  # written to the run record (a dataclass is expanded)
    retry_failed: bool = False
    fsync_every_s: float = 5.0
    wait_timeout_s: float = 1800.0
    progress: bool = True
    unit: str = "row"
    desc: str = "processing"


@dataclass
class Shard:
    """What `work` receives: the rows this process still has to do, its place in the launch, and its part file's
    descriptor (close it in forked worker processes: they would otherwise share its lock, see `batch_captioning`)."""

    rows: list[int]
    proc: ProcessInfo
    part_fd: int


@dataclass
class RowsResult:
    """What this process did and, where it merged (rank 0), what the output holds."""

    output: Path
    rows: int  # rows in the input
    processed: int  # rows this process wrote in this call, ok or failed
    seconds: float  # this process's batches; what `work` does before returning its iterator (loading) is excluded
    merged: bool  # whether this process wrote `output`
    ok: int | None = None  # rows with status ok in the merged output (None where this process did not merge)
    failed: int | None = None

    @property
    def rows_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


def check_paths(input_csv, output_csv) -> None:
    """Raise `RowJobError` when the output would overwrite the input or is a folder."""
    source, output = Path(input_csv), Path(output_csv)
    if output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source)):
        raise RowJobError(f"The output {output} is the input CSV; choose another --output (e.g. "
                          f"{source.stem}_out.csv)")
    if output.is_dir():
        raise RowJobError(f"The output {output} is a folder; give a file name such as {output / 'out.csv'}")


def _check_same_settings(output, now: dict) -> None:
    try:
        before = json.loads(run_record_path(output).read_text()).get("settings")
    except (OSError, ValueError):  # no record (or one cut short by a kill): nothing to compare with
        return
    changed = {k: {"before": before.get(k), "now": v} for k, v in now.items() if before and before.get(k) != v}
    if changed:
        raise RowJobError(f"{output} was started with other settings: {changed}. Resuming would mix results of two "
                          "setups: use the same settings, or another --output.")


def _write_record(job: RowJob, **results) -> None:
    from vidlm.runtime.runinfo import write_run_record

    path = run_record_path(job.output)
    tmp = write_run_record(Path(f"{path}.tmp"), job.config or {}, settings=job.settings,
                           layout=dataclasses.asdict(job.table.layout), rows=len(job.table.rows), **results)
    os.replace(tmp, path)  # a kill never leaves half a record


def run_rows(job: RowJob, work: Callable[[Shard], Iterable[list[dict]]]) -> RowsResult:
    """Do this process's shard of `job.table` with `work`, resuming from what is already written; rank 0 merges."""
    from vidlm.runtime.progress import tqdm

    table, layout, output = job.table, job.table.layout, Path(job.output)
    proc = process_info()
    if output.exists() or list_parts(output):  # before reading them: other settings may mean other columns
        _check_same_settings(output, job.settings)
    finished = read_finished(output, table)
    own_part = part_path(output, proc.rank, proc.world_size)
    writer = PartWriter(own_part, table, job.fsync_every_s)
    group = None
    try:
        done_path(own_part).unlink(missing_ok=True)  # a marker from an earlier run would say "complete" too soon
        group = ProcessGroup.start(proc, job.wait_timeout_s, f"`{layout.command}` processes")
        if proc.rank == 0:
            _write_record(job, world_size=proc.world_size)
        todo = [i for i in range(proc.rank, len(table.rows), proc.world_size)
                if i not in finished or (job.retry_failed and finished[i][layout.status] == FAILED)]
        seconds = 0.0
        if todo:
            desc = job.desc if proc.world_size == 1 else f"{job.desc} (rank 0 of {proc.world_size})"
            bar = tqdm(total=len(todo), unit=job.unit, desc=desc, disable=not (job.progress and proc.rank == 0),
                       smoothing=0.1)
            batches = iter(work(Shard(todo, proc, writer.fd)))  # a plain function loads its model here, untimed
            start, failed, left = time.perf_counter(), 0, set(todo)
            for records in batches:
                records = [_whole(record, table, left) for record in records]
                writer.write(records)
                failed += sum(r[layout.status] == FAILED for r in records)
                bar.update(len(records))
                if failed:
                    bar.set_postfix(failed=failed)
            bar.close()
            seconds = time.perf_counter() - start
            if left:
                raise RowJobError(f"{layout.command} left {len(left)} row(s) of this shard without a record (rows "
                                  f"{sorted(left)[:10]}); this is a bug in the job")
        writer.close()
        mark_done(own_part, writer.written)
        result = RowsResult(output, len(table.rows), writer.written, seconds, merged=False)
        if proc.rank == 0:
            parts = [part_path(output, r, proc.world_size) for r in range(proc.world_size)]
            wait_for_parts(parts, [done_path(p) for p in parts], job.wait_timeout_s, f"their part of {output}",
                           f"Run the same command again to resume, or `vidlm merge {table.path} --output {output}` "
                           "once every part is complete.")
            records = merge(output, table)
            result.merged = True
            result.ok = sum(r[layout.status] == OK for r in records)
            result.failed = len(records) - result.ok
            _write_record(job, world_size=proc.world_size, ok=result.ok, failed=result.failed,
                          rank0_processed=result.processed, rank0_seconds=round(seconds, 3))
        return result
    finally:
        writer.close()
        if group is not None:
            group.stop()


def _whole(record: dict, table: InputTable, left: set[int]) -> dict:
    """The record with the row's input columns; refuses a row outside the shard or given twice."""
    layout = table.layout
    row = record.get(layout.row)
    if row not in left:
        raise RowJobError(f"{layout.command} returned a record for row {row!r}, which is not one of this shard's "
                          "rows still to do (or was returned twice); this is a bug in the job")
    if record.get(layout.status) not in (OK, FAILED):
        raise RowJobError(f"{layout.command} returned status {record.get(layout.status)!r} for row {row}; expected "
                          f"{OK!r} or {FAILED!r}")
    left.discard(row)
    return {**table.rows[row], **record}


def recorded_layout(output) -> Layout:
    """The layout a run into `output` recorded in its run record; `vidlm caption`'s when there is none."""
    try:
        layout = json.loads(run_record_path(output).read_text()).get("layout")
    except (OSError, ValueError):
        return CAPTION
    if not isinstance(layout, dict):
        return CAPTION
    try:
        return Layout(**{**layout, "added": tuple(layout.get("added", CAPTION.added))})
    except TypeError as err:
        raise RowJobError(f"{run_record_path(output)} has a layout this vidlm does not know: {err}") from None


def merge_rows(input_csv, output_csv) -> RowsResult:
    """Merge the part files of an earlier run (any row job: its run record names the columns) into `output_csv`."""
    if Path(output_csv).resolve() == Path(input_csv).resolve():
        raise RowJobError(f"The output {output_csv} is the input CSV; pass the run's --output")
    table = read_input(input_csv, recorded_layout(output_csv))
    records = merge(output_csv, table)
    ok = sum(r[table.layout.status] == OK for r in records)
    return RowsResult(Path(output_csv), len(records), 0, 0.0, merged=True, ok=ok, failed=len(records) - ok)
