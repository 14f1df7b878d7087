"""`vidlm caption` / `caption_csv`: rows keyed by input row, failures isolated, resumes after kill -9, torchrun."""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.seeds import seed_for
from helpers.row_job_files import env, kill_after_random_rows, rows_of, write_csv
from vidlm.jobs.caption import CaptionConfig, caption_csv, merge_captions
from vidlm.jobs.caption_files import CaptionError, PartWriter, list_parts, part_path, read_input, scan
from vidlm.cli import main
from vidlm.config import ConfigError
from vidlm.runtime.launch import LaunchError
from vidlm.prompts import PROMPTS, get_prompt

SETTINGS = dict(num_frames=4, max_new_tokens=8, progress=False)
COLUMNS = ["row", "path", "caption", "colour", "shape", "direction", "text", "status", "error"]
BIN = Path(sys.executable).parent



@pytest.fixture(scope="module")
def setup(tiny_checkpoints, synthetic_data, trained):
    """The 32 training clips (relative paths, extra columns), the tiny checkpoint and the trained adapter."""
    result, config = trained
    return {"input": synthetic_data["train"], "model": tiny_checkpoints["llava-next-video"],
            "adapter": str(result.adapter_dir)}


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """An uninterrupted one-process run: {path: caption} and the output rows."""
    out = tmp_path_factory.mktemp("reference") / "captions.csv"
    caption_csv(CaptionConfig(str(setup["input"]), str(out), setup["model"], adapter=setup["adapter"],
                              batch_size=4, **SETTINGS))
    rows = rows_of(out)
    return {"captions": {r["path"]: r["text"] for r in rows}, "rows": rows, "output": out}


@pytest.fixture(scope="module")
def model_and_processor(setup):
    from vidlm.adapters import load_adapter
    from vidlm.models import load_processor

    return load_adapter(setup["model"], setup["adapter"]), load_processor(setup["model"])


def alone(model_and_processor, video, prompt=PROMPTS["default"]) -> str:
    """The caption of one video captioned on its own (batch of one)."""
    from vidlm.captioning import caption_videos

    model, processor = model_and_processor
    return caption_videos(model, processor, [str(video)], prompt, num_frames=4, batch_size=1, max_new_tokens=8,
                          progress=False)[0]


def test_every_row_once_in_input_order_with_extra_columns_carried(setup, reference):
    source = rows_of(setup["input"])
    rows = reference["rows"]
    assert list(rows[0]) == COLUMNS
    assert [int(r["row"]) for r in rows] == list(range(len(source)))
    for got, given in zip(rows, source, strict=True):
        assert {k: got[k] for k in given} == given  # path and extra columns exactly as in the input
        assert got["status"] == "ok" and got["error"] == "" and got["text"]
    assert len(set(reference["captions"].values())) > 4  # the adapter tells clips apart: equality checks mean something
    assert list_parts(reference["output"]) == []
    assert Path(f"{reference['output']}.run.json").is_file()


def test_batched_grouped_run_equals_one_video_at_a_time(setup, reference, model_and_processor, tmp_path):
    out = tmp_path / "one_at_a_time.csv"
    caption_csv(CaptionConfig(str(setup["input"]), str(out), setup["model"], adapter=setup["adapter"], batch_size=1,
                              num_workers=0, group_by_length=False, **SETTINGS))
    assert [r["text"] for r in rows_of(out)] == [r["text"] for r in reference["rows"]]
    folder = Path(setup["input"]).parent
    for row in reference["rows"][:6]:
        assert row["text"] == alone(model_and_processor, folder / row["path"])


def test_corrupt_and_missing_videos_fail_alone_and_shift_nothing(setup, reference, model_and_processor, tmp_path):
    folder = Path(setup["input"]).parent
    good = [r["path"] for r in reference["rows"][:8]]
    real = (folder / good[0]).read_bytes()
    (tmp_path / "garbage.mp4").write_bytes(random.Random(0).randbytes(5000))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "truncated.mp4").write_bytes(real[: len(real) // 2])
    paths = [str(folder / good[0]), "garbage.mp4", str(folder / good[1]), str(folder / good[2]), "empty.mp4",
             "missing.mp4", str(folder / good[3]), "", "truncated.mp4", *[str(folder / g) for g in good[4:]]]
    source = write_csv(tmp_path / "videos.csv", [{"path": p, "note": f"n{i}"} for i, p in enumerate(paths)])
    out = tmp_path / "captions.csv"
    result = caption_csv(CaptionConfig(str(source), str(out), setup["model"], adapter=setup["adapter"], batch_size=4,
                                       **SETTINGS))
    rows = rows_of(out)
    assert [(int(r["row"]), r["path"], r["note"]) for r in rows] == [(i, p, f"n{i}") for i, p in enumerate(paths)]
    for r in rows:
        if r["path"] in ("garbage.mp4", "empty.mp4", "missing.mp4"):
            assert r["status"] == "failed" and r["text"] == "" and r["path"] in r["error"], r
        elif r["path"] == "":
            assert (r["status"], r["error"]) == ("failed", "empty path")
        elif r["path"] == "truncated.mp4":  # fails unless the decoder salvages frames; then it is a normal caption
            assert r["status"] == "failed" or r["text"] == alone(model_and_processor, tmp_path / r["path"])
        else:
            assert r["status"] == "ok" and r["error"] == ""
            assert r["text"] == reference["captions"][Path(r["path"]).name]
            assert r["text"] == alone(model_and_processor, r["path"])
    assert "no such file" in next(r["error"] for r in rows if r["path"] == "missing.mp4")
    assert result.failed >= 4 and result.ok + result.failed == len(paths)


def test_resume_skips_finished_rows_and_retry_failed_retries_them(setup, reference, model_and_processor, tmp_path):
    folder = Path(setup["input"]).parent
    clips = [r["path"] for r in reference["rows"][:3]]
    for clip in clips[:2]:
        shutil.copy(folder / clip, tmp_path / clip)
    source = write_csv(tmp_path / "videos.csv", [{"path": c} for c in clips])  # the third clip is not there yet
    config = CaptionConfig(str(source), str(tmp_path / "out.csv"), setup["model"], adapter=setup["adapter"], **SETTINGS)
    first = caption_csv(config)
    assert (first.captioned, first.ok, first.failed) == (3, 2, 1)
    before = Path(config.output_csv).read_bytes()
    again = caption_csv(config)
    assert again.captioned == 0 and Path(config.output_csv).read_bytes() == before  # failed rows kept by default
    shutil.copy(folder / clips[2], tmp_path / clips[2])
    config.retry_failed = True
    retried = caption_csv(config)
    assert (retried.captioned, retried.ok, retried.failed) == (1, 3, 0)
    assert [r["text"] for r in rows_of(config.output_csv)] == [reference["captions"][c] for c in clips]


def test_resuming_with_other_settings_is_refused(setup, reference, tmp_path):
    out = tmp_path / "captions.csv"
    shutil.copy(reference["output"], out)
    shutil.copy(f"{reference['output']}.run.json", f"{out}.run.json")
    config = CaptionConfig(str(setup["input"]), str(out), setup["model"], adapter=setup["adapter"], **SETTINGS)
    assert caption_csv(config).captioned == 0  # same settings: nothing left to do
    config.max_new_tokens = 20
    with pytest.raises(CaptionError, match="other settings.*max_new_tokens"):
        caption_csv(config)


TORN_TAILS = {
    "cut mid-line": lambda line: line[: len(line) // 2],
    "no final newline": lambda line: line[:-1],
    "inside a quoted field": lambda line: line[:-1] + b',"half an error\nmessage',
    "zero bytes of a crash": lambda line: b"\0" * 300,
}


@pytest.mark.parametrize("tail", TORN_TAILS)
def test_a_torn_last_row_is_cut_off_and_captioned_again(setup, reference, tmp_path, tail):
    out = tmp_path / "captions.csv"
    lines = reference["output"].read_bytes().splitlines(keepends=True)
    header, records = lines[0], lines[1:]
    kept = [records[i] for i in (7, 2, 30)]  # grouped batches finish out of input order
    part_path(out, 0, 1).write_bytes(header + b"".join(kept) + TORN_TAILS[tail](records[11]))
    config = CaptionConfig(str(setup["input"]), str(out), setup["model"], adapter=setup["adapter"], **SETTINGS)
    with pytest.warns(UserWarning, match="torn last row"):
        result = caption_csv(config)
    assert result.captioned == len(records) - 3
    assert out.read_bytes() == reference["output"].read_bytes()


def test_a_part_damaged_before_its_last_row_is_an_error(setup, reference, tmp_path):
    out = tmp_path / "captions.csv"
    lines = reference["output"].read_bytes().splitlines(keepends=True)
    part_path(out, 0, 1).write_bytes(lines[0] + lines[1][:10] + b"\n" + lines[2])
    with pytest.raises(CaptionError, match="damaged after record 0"):
        caption_csv(CaptionConfig(str(setup["input"]), str(out), setup["model"], **SETTINGS))


def test_a_part_being_written_is_locked(setup, tmp_path):
    table = read_input(setup["input"])
    with PartWriter(part_path(tmp_path / "out.csv", 0, 1), table):
        with pytest.raises(CaptionError, match="being written by another running"):
            PartWriter(part_path(tmp_path / "out.csv", 0, 1), table)
        with pytest.raises(CaptionError, match="being written"):
            merge_captions(setup["input"], tmp_path / "out.csv")


def test_a_kill_between_merge_and_cleanup_leaves_rows_once(setup, reference, tmp_path):
    out = tmp_path / "captions.csv"
    shutil.copy(reference["output"], out)
    shutil.copy(reference["output"], part_path(out, 1, 2))  # a leftover part holding the same rows
    result = merge_captions(setup["input"], out)
    assert result.rows == len(reference["rows"]) and list_parts(out) == []
    assert out.read_bytes() == reference["output"].read_bytes()


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_every_row_once(setup, reference, tmp_path):
    """Real `vidlm caption` processes killed with SIGKILL at random moments, resumed each time, then run to the end."""
    source_rows = rows_of(setup["input"])
    folder = Path(setup["input"]).parent
    rows = [{"path": str(folder / r["path"]), "copy": str(k)} for k in range(3) for r in source_rows]  # 96 rows
    source = write_csv(tmp_path / "videos.csv", rows)
    out = tmp_path / "captions.csv"
    command = [sys.executable, "-m", "vidlm.cli", "caption", str(source), "--output", str(out), "--model",
               setup["model"], "--adapter", setup["adapter"], "--num-frames", "4", "--max-new-tokens", "8",
               "--batch-size", "2", "--no-progress"]
    seed = seed_for(11)
    rng = random.Random(seed)
    part = part_path(out, 0, 1)
    table = read_input(source)
    expected = [reference["captions"][Path(r["path"]).name] for r in rows]
    for trial in range(4):
        if trial == 0:  # anywhere from start-up (imports, model loading) into captioning
            # on an idle machine 8 s can caption every row: stop at a third at the latest
            running, code, stderr = kill_after_random_rows(command, env(), part, len(rows), rng,
                                                           target=len(rows) // 3, wait_s=rng.uniform(1.0, 8.0),
                                                           settle_s=0)
        else:  # after a random number of further rows, plus a random fraction of a batch
            running, code, stderr = kill_after_random_rows(command, env(), part, len(rows), rng, settle_s=0.15)
        assert running or code == 0, f"seed {seed}, trial {trial}: {stderr[-2000:]}"
        if part.exists():  # what a kill leaves: whole records (at most one torn at the end), each row at most once
            found = scan(part, table)
            done = [r["row"] for r in found.records]
            assert len(done) == len(set(done)), f"seed {seed}: a row was captioned twice"
            assert all(r["text"] == expected[r["row"]] for r in found.records), f"seed {seed}"
            print(f"seed {seed} trial {trial}: killed {'while running' if running else 'after exit'}, "
                  f"{len(done)} rows done, torn tail {found.tail_bytes} bytes")
        if trial:  # a kill after a number of rows, at most a third of those left, lands while captioning
            assert running and 0 < len(done) < len(rows), f"seed {seed}, trial {trial}: {len(done)} rows done"
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = rows_of(out)
    assert [int(r["row"]) for r in got] == list(range(len(rows))), f"seed {seed}"
    assert [(r["path"], r["copy"]) for r in got] == [(r["path"], r["copy"]) for r in rows]
    assert [r["text"] for r in got] == expected, f"seed {seed}"
    assert all(r["status"] == "ok" for r in got) and list_parts(out) == []


@pytest.mark.slow
def test_two_processes_under_torchrun_equal_one_process(setup, reference, tmp_path):
    out = tmp_path / "captions.csv"
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "vidlm.cli", "caption",
               str(setup["input"]), "--output", str(out), "--model", setup["model"], "--adapter", setup["adapter"],
               "--num-frames", "4", "--max-new-tokens", "8", "--batch-size", "3", "--no-progress",
               "--wait-timeout-s", "120"]
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "captioned 16 videos" in done.stderr  # each rank took half
    assert out.read_bytes() == reference["output"].read_bytes()  # every row once, input order, same captions
    assert list_parts(out) == [] and not list(tmp_path.glob("*.done"))


def test_merge_command_after_ranks_ran_separately(setup, reference, tmp_path, monkeypatch, capsys):
    out = tmp_path / "captions.csv"
    config = CaptionConfig(str(setup["input"]), str(out), setup["model"], adapter=setup["adapter"],
                           wait_timeout_s=1, **SETTINGS)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(LaunchError, match=r"rank\(s\) \[1\] of 2.*vidlm merge"):
        caption_csv(config)  # rank 0 finishes its half, then waits in vain for rank 1
    assert main(["merge", str(setup["input"]), "--output", str(out)]) == 2
    assert "16 of 32 rows" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "1")
    result = caption_csv(config)
    assert (result.captioned, result.merged) == (16, False)
    assert len(list_parts(out)) == 2 and not out.exists()
    assert main(["merge", str(setup["input"]), "--output", str(out)]) == 0
    assert out.read_bytes() == reference["output"].read_bytes() and list_parts(out) == []


def test_named_prompts(setup, model_and_processor, tmp_path):
    folder = Path(setup["input"]).parent
    source = write_csv(tmp_path / "videos.csv", [{"path": str(p)} for p in sorted(folder.glob("*.mp4"))[:5]])
    out = tmp_path / "captions.csv"
    caption_csv(CaptionConfig(str(source), str(out), setup["model"], adapter=setup["adapter"], prompt_name="motion",
                              **SETTINGS))
    assert [r["text"] for r in rows_of(out)] == [alone(model_and_processor, r["path"], get_prompt("motion"))
                                                 for r in rows_of(source)]
    assert '"prompt": "Describe how the main object moves in the video."' in Path(f"{out}.run.json").read_text()
    with pytest.raises(ConfigError, match=r"prompt_name must be one of \['default', 'detailed'.*got 'poem'"):
        CaptionConfig(str(source), str(tmp_path / "x.csv"), setup["model"], prompt_name="poem")  # refused when made
    with pytest.raises(ConfigError, match="not both"):
        CaptionConfig(str(source), str(tmp_path / "x.csv"), setup["model"], prompt="Hi.", prompt_name="short")


def bad_input(tmp_path, setup, case):
    """(config, words the error must contain) for one kind of bad input."""
    source = tmp_path / "videos.csv"
    model, adapter = setup["model"], None
    output = tmp_path / "out.csv"
    if case == "no path column":
        source.write_text("video,caption\na.mp4,x\n")
        words = ["videos.csv", "no `path` column", "['video', 'caption']"]
    elif case == "empty file":
        source.write_text("")
        words = ["videos.csv", "is empty", "header"]
    elif case == "header only":
        source.write_text("path,caption\n")
        words = ["videos.csv", "no rows"]
    elif case == "ragged row":
        source.write_text("path,caption\na.mp4,x\nb.mp4,y,z\n")
        words = ["videos.csv", "line 3: wrong number of fields: 3 fields where the header has 2", "quoting"]
    elif case == "reserved column":
        source.write_text("path,text\na.mp4,x\n")
        words = ["videos.csv", "['text']", "rename"]
    elif case == "missing input":
        words = ["Input CSV not found", "videos.csv"]
    elif case == "input is a folder":
        source.mkdir()
        words = ["videos.csv is not a file", "give the CSV"]
    elif case == "output is input":
        source.write_text("path\na.mp4\n")
        output, words = source, ["is the input CSV", "another --output"]
    elif case == "missing adapter":
        source.write_text("path\na.mp4\n")
        adapter, words = str(tmp_path / "nowhere"), ["nowhere", "adapter_config.json", "leave --adapter out"]
    elif case == "missing model folder":
        source.write_text("path\na.mp4\n")
        model, words = str(tmp_path / "no_model"), ["Model folder not found", "no_model"]
    config = CaptionConfig(str(source), str(output), model, adapter=adapter, progress=False)
    return config, words


BAD_INPUTS = ["no path column", "empty file", "header only", "ragged row", "reserved column", "missing input",
              "input is a folder", "output is input", "missing adapter", "missing model folder"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_a_clear_error_before_loading_anything(setup, tmp_path, case, monkeypatch):
    import vidlm.adapters
    import vidlm.models

    config, words = bad_input(tmp_path, setup, case)
    loads = []
    for module, name in ((vidlm.models, "load_model"), (vidlm.models, "load_processor"),
                         (vidlm.adapters, "load_adapter")):
        monkeypatch.setattr(module, name, lambda *a, name=name, **k: loads.append(name))
    with pytest.raises(CaptionError) as error:
        caption_csv(config)
    assert all(w in str(error.value) for w in words), str(error.value)
    assert loads == []  # it failed before any model, processor or adapter was loaded


def test_cli_reports_errors_without_a_traceback(setup, tmp_path):
    (tmp_path / "videos.csv").write_text("video\na.mp4\n")
    done = subprocess.run([str(BIN / "vidlm"), "caption", str(tmp_path / "videos.csv"), "--output",
                           str(tmp_path / "out.csv"), "--model", setup["model"]], env=env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "vidlm caption: error:" in done.stderr and "no `path` column" in done.stderr
    done = subprocess.run([str(BIN / "vidlm"), "caption", "in.csv", "--output", "o.csv", "--model", "m",
                           "--prompt-name", "poem"], env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "invalid choice: 'poem'" in done.stderr and "'short'" in done.stderr


def test_input_with_bom_and_crlf_reads_like_a_plain_file_and_invalid_utf8_is_named_by_line(tmp_path):
    (tmp_path / "plain.csv").write_text("path,note\na.mp4,caf\u00e9\nb.mp4,x\n")
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfpath,note\r\na.mp4,caf\xc3\xa9\r\n\r\nb.mp4,x\r\n")
    plain, bom = read_input(tmp_path / "plain.csv"), read_input(tmp_path / "bom.csv")
    assert bom.columns == plain.columns == ["path", "note"]
    assert bom.rows == plain.rows == [{"path": "a.mp4", "note": "caf\u00e9"}, {"path": "b.mp4", "note": "x"}]
    (tmp_path / "bad.csv").write_bytes(b"path,note\na.mp4,ok\nb.mp4,caf\xe9\n")
    with pytest.raises(CaptionError, match=r"bad\.csv: 1 bad line\(s\).*\n  line 3: invalid UTF-8: byte 0xe9 at col"):
        read_input(tmp_path / "bad.csv")


def captioned_parts(folder, rows: int, world_size: int = 2, out_dir=None):
    """An input CSV of `rows` rows and the complete part files of a `world_size`-process run (no model needed)."""
    from vidlm.jobs.caption_files import mark_done

    source = write_csv(folder / "videos.csv", [{"path": f"clip{i:05d}.mp4", "note": "x" * 40} for i in range(rows)])
    table, out = read_input(source), Path(out_dir or folder) / "captions.csv"
    for rank in range(world_size):
        with PartWriter(part_path(out, rank, world_size), table) as writer:
            writer.write([{"row": i, **table.rows[i], "text": f"caption {i}", "status": "ok", "error": ""}
                          for i in range(rank, rows, world_size)])
        mark_done(part_path(out, rank, world_size), rows // world_size)
    return source, out


def test_two_merges_at_once_both_succeed_and_the_output_is_whole(tmp_path):
    source, out = captioned_parts(tmp_path, 20_000)
    merges = [subprocess.Popen([sys.executable, "-m", "vidlm.cli", "merge", str(source), "--output", str(out)],
                               env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    results = [(m.wait(timeout=300), m.stderr.read()) for m in merges]
    assert [code for code, _ in results] == [0, 0], results
    assert all("20000 rows, 20000 ok, 0 failed" in err and "Traceback" not in err for _, err in results)
    rows = rows_of(out)
    assert [r["text"] for r in rows] == [f"caption {i}" for i in range(20_000)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captions.csv", "captions.csv.lock", "videos.csv"]


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 16 KiB tmpfs (root only, as in CI); `grow()` frees space. Unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        yield disk, lambda: subprocess.run(["mount", "-o", "remount,size=1m", str(disk)], check=True)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_a_full_disk_names_the_file_leaves_nothing_torn_and_a_rerun_resumes(tiny_checkpoints, synthetic_data,
                                                                           small_disk, tmp_path, capsys):
    disk, grow = small_disk
    folder = Path(synthetic_data["test"]).parent
    # 8 rows of ~1.6 KB each: their part file outgrows the disk after a few batches
    source = write_csv(tmp_path / "videos.csv", [{"path": str(folder / r["path"]), "note": f"{i}" * 1500}
                                                 for i, r in enumerate(rows_of(synthetic_data["test"]))])
    command = ["caption", str(source), "--model", tiny_checkpoints["llava-next-video"], "--num-frames", "4",
               "--max-new-tokens", "8", "--batch-size", "2", "--no-progress", "--num-workers", "0"]
    assert main([*command, "--output", str(tmp_path / "reference.csv")]) == 0
    capsys.readouterr()
    out = disk / "captions.csv"
    assert main([*command, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]  # (the lines before are the weights' loading bar)
    assert last.startswith(f"vidlm caption: error: No space left on the device while writing {disk}/captions.csv")
    assert "run the same command again" in last
    assert not out.exists()  # nothing under the final name
    for done in disk.glob("*.done"):
        json.loads(done.read_text())
    written = [r["row"] for p in list_parts(out) for r in scan(p, read_input(source)).records]
    assert 0 < len(written) < 8  # some rows were kept, the rest was cut off by the full disk

    grow()
    assert main([*command, "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"captioned {8 - len(written)} videos" in err  # only the rows that were not written
    assert out.read_bytes() == (tmp_path / "reference.csv").read_bytes()  # every row once, as without the fault
    assert list_parts(out) == [] and not list(disk.glob("*.tmp"))


@pytest.mark.slow
def test_a_full_disk_during_the_merge_keeps_the_parts_and_a_rerun_merges(small_disk, tmp_path, capsys):
    disk, grow = small_disk
    source, out = captioned_parts(tmp_path, 40, out_dir=disk)  # two parts and their markers fill the 4 pages
    assert main(["merge", str(source), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vidlm merge: error: No space left on the device while writing {out}") and \
        err.count("\n") == 1
    assert sorted(p.name for p in disk.iterdir()) == [  # no output, no temporary; the parts are intact
        "captions.csv.lock", "captions.csv.part-00000-of-00002", "captions.csv.part-00000-of-00002.done",
        "captions.csv.part-00001-of-00002", "captions.csv.part-00001-of-00002.done"]
    grow()
    assert main(["merge", str(source), "--output", str(out)]) == 0
    assert [r["text"] for r in rows_of(out)] == [f"caption {i}" for i in range(40)]
