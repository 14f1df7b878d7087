"""`vidlm.jobs.rows`: any job's own columns, resume after a crash mid-run, shards merged by `vidlm merge`."""

import csv
import json
from pathlib import Path

import pytest

from helpers.row_job_files import rows_of
from vidlm.jobs.caption_files import Layout, RowJobError, list_parts, part_path, read_input
from vidlm.cli import main
from vidlm.runtime.launch import LaunchError
from vidlm.jobs.rows import RowJob, merge_rows, run_rows

# A job whose input is another job's output (a captions CSV has row, text, status and error): it names its own.
LENGTH = Layout(command="vidlm length", column="text", column_hint="Pass the caption column.", added=("words",),
                row="len_row", status="len_status", error="len_error")



@pytest.fixture
def captions(tmp_path) -> Path:
    path = tmp_path / "captions.csv"
    texts = ["a red ball", "", "two blue cubes move left", "x", "one, two", "the end"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "path", "text", "status", "error"])
        for i, text in enumerate(texts):
            writer.writerow([i, f"clip{i}.mp4", text, "ok" if text else "failed", "" if text else "bad video"])
    return path


def count_words(table, calls: list, batch_size=2, crash_after=None):
    """A work function: word counts, empty text failed; records the batches it was given; can crash mid-run."""
    def work(shard):
        calls.append(list(shard.rows))

        def batches():
            for n, start in enumerate(range(0, len(shard.rows), batch_size)):
                if crash_after is not None and n == crash_after:
                    raise KeyboardInterrupt  # a crash: nothing after this batch is written
                yield [{"len_row": r, "words": len(table.rows[r]["text"].split()),
                        "len_status": "ok" if table.rows[r]["text"] else "failed",
                        "len_error": "" if table.rows[r]["text"] else "empty text"}
                       for r in shard.rows[start:start + batch_size]]
        return batches()
    return work


def job(table, out, **kwargs):
    return RowJob(table, out, settings={"unit": "words"}, config={"note": "test"}, progress=False, **kwargs)


def test_a_job_writes_its_own_columns_beside_the_input_ones(captions, tmp_path):
    table = read_input(captions, LENGTH)
    out = tmp_path / "lengths.csv"
    result = run_rows(job(table, out), count_words(table, []))
    rows = rows_of(out)
    assert list(rows[0]) == ["len_row", "text", "row", "path", "status", "error", "words", "len_status", "len_error"]
    assert [(r["len_row"], r["text"], r["row"], r["words"], r["len_status"]) for r in rows] == [
        ("0", "a red ball", "0", "3", "ok"), ("1", "", "1", "0", "failed"), ("2", "two blue cubes move left", "2",
        "5", "ok"), ("3", "x", "3", "1", "ok"), ("4", "one, two", "4", "2", "ok"), ("5", "the end", "5", "2", "ok")]
    assert (result.processed, result.ok, result.failed, result.merged) == (6, 5, 1, True)
    record = json.loads(Path(f"{out}.run.json").read_text())
    assert record["settings"] == {"unit": "words"} and record["layout"]["added"] == ["words"]
    assert record["config"] == {"note": "test"} and (record["ok"], record["failed"]) == (5, 1)


def test_a_crash_mid_run_resumes_with_the_rows_not_yet_written(captions, tmp_path):
    table = read_input(captions, LENGTH)
    out, calls = tmp_path / "lengths.csv", []
    with pytest.raises(KeyboardInterrupt):
        run_rows(job(table, out), count_words(table, calls, crash_after=2))
    assert not out.exists() and len(rows_of(part_path(out, 0, 1))) == 4  # two batches written before the crash
    result = run_rows(job(table, out), count_words(table, calls))
    assert calls == [[0, 1, 2, 3, 4, 5], [4, 5]] and result.processed == 2
    assert [r["words"] for r in rows_of(out)] == ["3", "0", "5", "1", "2", "2"] and list_parts(out) == []
    again = run_rows(job(table, out, retry_failed=True), count_words(table, calls))
    assert calls[-1] == [1] and again.processed == 1  # only the failed row
    with pytest.raises(RowJobError, match="other settings.*unit"):
        run_rows(RowJob(table, out, settings={"unit": "letters"}, progress=False), count_words(table, calls))


def test_a_job_that_skips_or_repeats_a_row_is_an_error(captions, tmp_path):
    table = read_input(captions, LENGTH)

    def twice(shard):
        return iter([[{"len_row": 0, "words": 1, "len_status": "ok", "len_error": ""}]] * 2)

    with pytest.raises(RowJobError, match="row 0, which is not one of this shard's rows"):
        run_rows(job(table, tmp_path / "a.csv"), twice)

    def short(shard):
        return iter([[{"len_row": r, "words": 1, "len_status": "ok", "len_error": ""} for r in shard.rows[:-1]]])

    with pytest.raises(RowJobError, match=r"left 1 row\(s\) of this shard without a record \(rows \[5\]\)"):
        run_rows(job(table, tmp_path / "b.csv"), short)


def test_input_errors_name_the_job_and_its_columns(captions, tmp_path):
    (tmp_path / "plain.csv").write_text("path\na.mp4\n")
    with pytest.raises(RowJobError, match=r"no `text` column; its columns are \['path'\]. Pass the caption column."):
        read_input(tmp_path / "plain.csv", LENGTH)
    (tmp_path / "clash.csv").write_text("text,words\na,1\n")
    with pytest.raises(RowJobError, match=r"\['words'\], which vidlm length writes itself"):
        read_input(tmp_path / "clash.csv", LENGTH)


def test_shards_run_apart_are_merged_by_vidlm_merge_with_the_recorded_layout(captions, tmp_path, monkeypatch,
                                                                          capsys):
    table = read_input(captions, LENGTH)
    out, calls = tmp_path / "lengths.csv", []
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        run_rows(job(table, out, wait_timeout_s=0.5), count_words(table, calls))
    assert calls == [[1, 3, 5], [0, 2, 4]]
    assert out.exists() and list_parts(out) == []  # rank 0 found rank 1's part complete and merged
    whole = out.read_bytes()
    out.unlink()
    # The same shards again, rank 0 first: it waits in vain; the command then merges, with the recorded layout.
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(LaunchError, match=r"rank\(s\) \[1\] of 2"):
        run_rows(job(table, out, wait_timeout_s=0.5), count_words(table, calls))
    monkeypatch.setenv("RANK", "1")
    run_rows(job(table, out, wait_timeout_s=0.5), count_words(table, calls))
    assert main(["merge", str(captions), "--output", str(out)]) == 0
    assert "6 rows, 5 ok, 1 failed" in capsys.readouterr().err
    assert out.read_bytes() == whole
    assert merge_rows(captions, out).ok == 5
