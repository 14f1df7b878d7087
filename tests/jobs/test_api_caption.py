"""`vidlm caption --backend openai`: captions from a local OpenAI-compatible server backed by the tiny model, retries
with backoff, usage in run.json, resume after kill -9, one-line errors, and the key never written anywhere."""

import io
import json
import os
import random
import socket
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import numpy as np
import pytest

from helpers.seeds import seed_for
from helpers.row_job_files import kill_after_random_rows, rows_of, write_csv
from helpers.api_server import CaptionServer, decode_data_uri
from vidlm.jobs.api_caption import chat_messages, frame_indices, jpeg_data_uri, retry_after_s, retry_delay
from vidlm.jobs.caption import CaptionConfig, caption_csv
from vidlm.jobs.caption_files import CaptionError, list_parts, part_path, read_input, scan
from vidlm.cli import main
from vidlm.config import ConfigError
from vidlm.prompts import get_prompt

KEY = "sk-vidlm-test-" + os.urandom(12).hex()  # what the server accepts; it must appear in no output or file
PROMPT = get_prompt("default")


@pytest.fixture(scope="module")
def caption_fn(tiny_checkpoints):
    """The server's model, the tiny random LLaVA-NeXT-Video checkpoint (its captions differ from clip to clip):
    (frames, prompt, max_tokens) → (caption, prompt tokens, completion tokens)."""
    from vidlm.captioning import generate_captions, generation_config
    from vidlm.collate import generation_batch
    from vidlm.families import family_of
    from vidlm.models import load_model, load_processor
    from vidlm.prompts import format_prompt

    checkpoint = tiny_checkpoints["llava-next-video"]
    model, processor = load_model(checkpoint, quantization="none").eval(), load_processor(checkpoint)

    def caption(frames, prompt, max_tokens):
        text = format_prompt(family_of(model.config), prompt, processor=processor).text
        batch = generation_batch(processor, [text], [frames])
        caption = generate_captions(model, processor, batch, generation_config(processor, max_tokens))[0]
        return caption, batch["input_ids"].shape[1], len(processor.tokenizer(caption, add_special_tokens=False)
                                                          .input_ids)

    return caption


@pytest.fixture(scope="module")
def clips(synthetic_data):
    """The 8 held-out clips' CSV (relative paths, extra columns) and, per clip, the frames the server should get
    (at 10/50/90% of the clip, through JPEG) — worked out here without vidlm's API code."""
    from PIL import Image

    from vidlm.video.decode import load_video

    source = Path(synthetic_data["test"])
    frames = {}
    for row in rows_of(source):
        path = source.parent / row["path"]
        total = load_video(path, num_frames=16).total_frames
        picked = load_video(path, indices=[int(total * p) for p in (0.1, 0.5, 0.9)]).frames
        jpeg = []
        for frame in picked:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
            jpeg.append(np.asarray(Image.open(buffer).convert("RGB")))
        frames[row["path"]] = np.stack(jpeg)
    return source, frames


@pytest.fixture(scope="module")
def expected(clips, caption_fn):
    """{path: the caption the model gives those frames}."""
    _, frames = clips
    captions = {path: caption_fn(f, PROMPT, 8)[0] for path, f in frames.items()}
    assert len(set(captions.values())) > 3  # the clips get different captions: a mix-up of rows would show
    return captions


@pytest.fixture
def server(caption_fn):
    with CaptionServer(caption_fn, key=KEY) as running:
        yield running


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def config_for(source, out, server_url, **settings) -> CaptionConfig:
    values = dict(model="tiny-vidlm", backend="openai", base_url=server_url, max_new_tokens=8, progress=False,
                  concurrency=3, retry_base_s=0.05, retry_max_s=2.0, request_timeout_s=10.0)
    return CaptionConfig(str(source), str(out), **{**values, **settings})


def assert_key_nowhere(folder, *texts) -> None:
    """The key is in no file under `folder` (every file, at any depth) and in none of `texts`."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    for text in texts:
        assert KEY not in text


def test_captions_arrive_with_frames_at_10_50_90_percent_and_usage_in_run_json(clips, expected, server, key_env,
                                                                              tmp_path, capsys):
    source, frames = clips
    out = tmp_path / "captions.csv"
    result = caption_csv(config_for(source, out, server.url, price_input_per_1m=2.5, price_output_per_1m=10.0))
    rows = rows_of(out)
    given = rows_of(source)
    assert [int(r["row"]) for r in rows] == list(range(len(given)))
    assert [{k: r[k] for k in given[0]} for r in rows] == given  # path and extra columns carried through
    assert [r["status"] for r in rows] == ["ok"] * len(given)
    assert [r["text"] for r in rows] == [expected[g["path"]] for g in given]
    assert (result.ok, result.failed) == (len(given), 0) and list_parts(out) == []

    assert len(server.log) == len(given)  # one request per video, each with the instruction and 3 JPEG frames
    received = [entry["frames"] for entry in server.log]
    for path, want in frames.items():
        assert sum(np.array_equal(got, want) for got in received) == 1, path
    assert {e["model"] for e in server.log} == {"tiny-vidlm"} and {e["prompt"] for e in server.log} == {PROMPT}

    record = json.loads(Path(f"{out}.run.json").read_text())
    usage = record["api_usage"]["total"]
    prompt_tokens = sum(e["prompt_tokens"] for e in server.log)
    completion_tokens = sum(e["completion_tokens"] for e in server.log)
    assert (usage["requests"], usage["retries"]) == (len(given), 0)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt_tokens, completion_tokens)
    assert usage["estimated_cost"] == pytest.approx(prompt_tokens * 2.5e-6 + completion_tokens * 10e-6)
    assert record["api_usage"]["this_run"] == usage
    assert record["settings"]["frame_positions"] == [0.1, 0.5, 0.9]
    assert record["config"]["api_key_env"] == "OPENAI_API_KEY"
    captured = capsys.readouterr()
    assert_key_nowhere(tmp_path, captured.out, captured.err)


def test_429_500_timeouts_and_malformed_replies_are_retried_with_backoff(clips, expected, server, key_env,
                                                                         tmp_path):
    source, _ = clips
    server.faults.extend(["429", "500", "timeout", "not json", "no choices", "no content"])
    server.retry_after, server.slow_s = 0.4, 3.0
    out = tmp_path / "captions.csv"
    caption_csv(config_for(source, out, server.url, concurrency=2, request_timeout_s=2.0))
    rows = rows_of(out)
    assert [r["text"] for r in rows] == [expected[r["path"]] for r in rows]  # every row, right caption, once
    assert {r["status"] for r in rows} == {"ok"}

    usage = json.loads(Path(f"{out}.run.json").read_text())["api_usage"]["total"]
    assert usage["retries"] == 6 and usage["requests"] == len(rows) + 6
    assert usage["retried"] == {"429": 1, "500": 1, "timeout": 1, "malformed": 3}
    delivered = server.answered("ok")  # the timed-out answer never arrived, so it is not counted
    assert usage["completion_tokens"] == sum(e["completion_tokens"] for e in delivered)

    # The request that got 429 was sent again no sooner than Retry-After, and not much later.
    limited = server.answered("429")[0]
    again = next(e for e in server.log if e["time"] > limited["time"] and e["images"] == limited["images"])
    assert 0.4 <= again["time"] - limited["time"] < 0.4 * 1.1 + 1.0
    timed_out = server.answered("timeout")[0]  # the client gave up after its 2 s, then retried
    again = next(e for e in server.log if e["time"] > timed_out["time"] and e["images"] == timed_out["images"])
    assert 1.9 <= again["time"] - timed_out["time"] < 3.0
    assert_key_nowhere(tmp_path)


def test_retries_used_up_stop_the_run_in_one_line_and_the_same_command_resumes(clips, expected, server, key_env,
                                                                               tmp_path):
    source, _ = clips
    server.faults.extend([None, None, "503", "503", "503"])  # two captions, then a server that keeps failing
    out = tmp_path / "captions.csv"
    config = config_for(source, out, server.url, concurrency=1, max_retries=2)
    with pytest.raises(CaptionError) as error:
        caption_csv(config)
    message = str(error.value)
    assert "answered HTTP 503: injected 503 (3 tries" in message and "run the same command again" in message
    kept = scan(part_path(out, 0, 1), read_input(source)).records
    assert len(kept) == 2 and all(r["status"] == "ok" for r in kept)  # the rows before the failure are kept
    assert json.loads(Path(f"{out}.run.json").read_text())["api_usage"]["total"]["requests"] == 5

    result = caption_csv(config)
    assert result.captioned == 6
    assert [r["text"] for r in rows_of(out)] == [expected[r["path"]] for r in rows_of(source)]
    usage = json.loads(Path(f"{out}.run.json").read_text())["api_usage"]
    assert (usage["this_run"]["requests"], usage["total"]["requests"]) == (6, 11)  # earlier runs counted in total


def test_a_retry_after_longer_than_retry_max_s_stops_the_run(clips, server, key_env, tmp_path):
    source, _ = clips
    server.faults.append("429")
    server.retry_after = 3600
    with pytest.raises(CaptionError, match=r"asks to wait 3600 s before the next request \(Retry-After\), longer "
                                           r"than retry_max_s=2: run the same command again later"):
        caption_csv(config_for(source, tmp_path / "captions.csv", server.url, concurrency=1))
    assert len(server.log) == 1  # the one refused request: no retry, so no wait either


def test_a_video_the_server_refuses_fails_alone_and_retry_failed_captions_it(clips, expected, server, key_env,
                                                                             tmp_path):
    source, _ = clips
    given = rows_of(source)
    rows = [*given[:3], {**given[3], "path": "missing.mp4"}, *given[4:]]
    source = write_csv(tmp_path / "videos.csv", [{**r, "path": str(source.parent / r["path"]) if r["path"] !=
                                                 "missing.mp4" else "missing.mp4"} for r in rows])
    server.faults.append("400")
    out = tmp_path / "captions.csv"
    config = config_for(source, out, server.url, concurrency=1)
    result = caption_csv(config)
    got = rows_of(out)
    assert (result.ok, result.failed) == (6, 2)
    # The server's reason is kept, with the key it echoed masked.
    assert got[0]["status"] == "failed" and "refused this video (HTTP 400): injected 400 (key ***)" in got[0]["error"]
    assert got[3]["status"] == "failed" and "missing.mp4: no such file" in got[3]["error"]
    assert [r["text"] for r in got[4:]] == [expected[Path(r["path"]).name] for r in got[4:]]
    config.retry_failed = True
    again = caption_csv(config)
    assert (again.captioned, again.ok) == (2, 7)
    assert rows_of(out)[0]["text"] == expected[Path(got[0]["path"]).name]
    assert_key_nowhere(tmp_path)


@pytest.mark.slow
def test_kill_9_mid_run_and_resume_give_every_row_once(clips, expected, caption_fn, tmp_path):
    source, _ = clips
    given = rows_of(source)
    rows = [{"path": str(source.parent / r["path"]), "copy": str(k)} for k in range(4) for r in given]  # 32 rows
    source = write_csv(tmp_path / "videos.csv", rows)
    out = tmp_path / "captions.csv"
    want = [expected[Path(r["path"]).name] for r in rows]
    table, part = read_input(source), part_path(out, 0, 1)
    environment = {**os.environ, "OPENAI_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    seed = seed_for(17)
    rng = random.Random(seed)
    with CaptionServer(caption_fn, key=KEY, delay_s=0.05) as server:
        command = [sys.executable, "-m", "vidlm.cli", "caption", str(source), "--output", str(out), "--backend",
                   "openai", "--model", "tiny-vidlm", "--base-url", server.url, "--max-new-tokens", "8",
                   "--concurrency", "3", "--no-progress"]
        for trial in range(3):  # each kill after a number of rows, at most a third of those left: mid-run
            running, code, stderr = kill_after_random_rows(command, environment, part, len(rows), rng, wait_s=60)
            assert running, f"seed {seed}, trial {trial}: the run ended before the kill ({code}): {stderr[-2000:]}"
            found = scan(part, table).records
            done = [r["row"] for r in found]
            assert 0 < len(done) < len(rows), f"seed {seed}, trial {trial}: {len(done)} rows done"
            assert len(done) == len(set(done)), f"seed {seed}: a row was captioned twice"
            assert all(r["text"] == want[r["row"]] for r in found), f"seed {seed}"
        finish = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert finish.returncode == 0, finish.stderr
    got = rows_of(out)
    assert [(int(r["row"]), r["path"], r["copy"]) for r in got] == [(i, r["path"], r["copy"])
                                                                    for i, r in enumerate(rows)]
    assert [r["text"] for r in got] == want and list_parts(out) == []
    assert_key_nowhere(tmp_path, finish.stderr, finish.stdout)


def cli(args, env_key=None, monkeypatch=None, capsys=None):
    if env_key is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", env_key)
    code = main(["caption", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def test_a_refused_key_is_one_line_that_does_not_contain_it(clips, server, tmp_path, monkeypatch, capsys):
    source, _ = clips
    wrong = "sk-wrong-" + os.urandom(12).hex()
    code, err, out = cli([source, "--output", tmp_path / "captions.csv", "--backend", "openai", "--model", "m",
                          "--base-url", server.url, "--concurrency", "2", "--no-progress"], wrong, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 0
    assert err == (f"vidlm caption: error: {server.url} refused the API key from $OPENAI_API_KEY (HTTP 401): check "
                   "the key, or name the variable holding the right one with --api-key-env")
    assert server.answered("401")  # the server did echo the wrong key back
    assert wrong not in err + out
    for path in tmp_path.rglob("*"):
        assert wrong.encode() not in path.read_bytes()
    assert 1 <= len(server.log) <= 2  # the requests in flight; then the run stopped instead of trying every row


def test_an_unreachable_server_is_one_line(clips, tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    code, err, _ = cli([clips[0], "--output", tmp_path / "captions.csv", "--backend", "openai", "--model", "m",
                        "--base-url", url, "--max-retries", "1", "--retry-base-s", "0.01", "--no-progress"], KEY,
                       monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"vidlm caption: error: Cannot reach the server at {url}: ") and "(2 tries" in err
    assert KEY not in err


def test_a_missing_key_or_column_is_one_line_before_any_request(clips, server, tmp_path, monkeypatch, capsys):
    source, _ = clips
    code, err, _ = cli([source, "--output", tmp_path / "a.csv", "--backend", "openai", "--model", "gpt-4o"], None,
                       monkeypatch, capsys)
    assert (code, err) == (2, "vidlm caption: error: No API key: set the environment variable OPENAI_API_KEY (or "
                              "name another with --api-key-env), or pass --base-url for a server that needs none")
    assert not (tmp_path / "a.csv.run.json").exists() and not list_parts(tmp_path / "a.csv")  # refused first
    monkeypatch.setenv("MY_KEY", KEY)
    (tmp_path / "videos.csv").write_text("video\na.mp4\n")
    code, err, _ = cli([tmp_path / "videos.csv", "--output", tmp_path / "b.csv", "--backend", "openai", "--model",
                        "m", "--base-url", server.url, "--api-key-env", "MY_KEY"], None, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 0 and "has no `path` column; its columns are ['video']" in err
    code, err, _ = cli([source, "--output", tmp_path / "c.csv", "--backend", "openai", "--model", "m",
                        "--api-key-env", KEY], None, monkeypatch, capsys)  # the key itself given by mistake
    assert code == 2 and "api_key_env must be the name of an environment variable" in err and KEY not in err
    assert server.log == []


def test_api_settings_are_checked_when_made_and_a_resume_with_another_model_is_refused(clips, server, key_env,
                                                                                         tmp_path):
    source, _ = clips
    with pytest.raises(ConfigError, match=r"frame_positions must be .*got '0.5,1.5'"):
        config_for(source, tmp_path / "x.csv", server.url, frame_positions="0.5,1.5")
    with pytest.raises(ConfigError, match="cannot be used with backend 'openai'"):
        config_for(source, tmp_path / "x.csv", server.url, adapter=str(tmp_path))
    with pytest.raises(ConfigError, match="applies to backend 'openai'"):
        CaptionConfig(str(source), str(tmp_path / "x.csv"), "m", frame_positions="0.5")
    out = tmp_path / "captions.csv"
    head = write_csv(tmp_path / "two.csv", [{"path": str(source.parent / r["path"])} for r in rows_of(source)[:2]])
    caption_csv(config_for(head, out, server.url, frame_positions="uniform", num_frames=2))
    assert [len(e["images"]) for e in server.log] == [2, 2]
    Path(out).unlink()  # only a part file and the record: as after a kill
    part_path(out, 0, 1).write_text("row,path,text,status,error\n0," + str(source.parent / rows_of(source)[0]["path"])
                                    + ",x,ok,\n")
    with pytest.raises(CaptionError, match="other settings.*'model': {'before': 'tiny-vidlm', 'now': 'other'}"):
        caption_csv(config_for(head, out, server.url, frame_positions="uniform", num_frames=2, model="other"))


def test_without_the_openai_package_the_error_says_what_to_install(clips, tmp_path, monkeypatch, key_env):
    monkeypatch.setitem(sys.modules, "openai", None)  # what an environment without it gives: ImportError
    with pytest.raises(CaptionError, match=r"needs the `openai` package: pip install 'vidlm\[api\]'"):
        caption_csv(config_for(clips[0], tmp_path / "captions.csv", "http://127.0.0.1:9/v1"))
    assert list(tmp_path.iterdir()) == []


def test_retry_delay_backs_off_exponentially_with_jitter_and_honours_retry_after():
    assert [retry_delay(n, None, 1.0, 60.0, rand=lambda: 0.0) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [retry_delay(n, None, 1.0, 60.0, rand=lambda: 1.0) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    rng = random.Random(0)
    samples = [retry_delay(2, None, 1.0, 60.0, rand=rng.random) for _ in range(200)]
    assert 2 <= min(samples) and max(samples) <= 4 and len(set(samples)) == 200  # spread, so retries do not bunch
    assert retry_delay(0, 7.0, 1.0, 60.0, rand=lambda: 0.0) == 7.0  # the server's wait, however early the retry
    assert retry_delay(5, 0.5, 1.0, 60.0, rand=lambda: 1.0) == pytest.approx(0.55)
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": formatdate(time.time() + 30, usegmt=True)}) == pytest.approx(30, abs=1.5)
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None


def test_frames_and_messages_are_what_the_chat_api_expects():
    assert frame_indices(16, [0.1, 0.5, 0.9]) == [1, 8, 14]
    assert frame_indices(3, [0.0, 1.0]) == [0, 2]
    y, x = np.mgrid[0:32, 0:48]
    frame = np.stack([x * 5, y * 7, np.full_like(x, 200)], axis=-1).astype(np.uint8)  # smooth: JPEG keeps it
    uri = jpeg_data_uri(frame, quality=95)
    assert uri.startswith("data:image/jpeg;base64,")
    back = decode_data_uri(uri)
    assert back.shape == frame.shape and np.abs(back.astype(int) - frame).mean() < 2
    assert chat_messages("Describe.", ["u1", "u2"], "low") == [{"role": "user", "content": [
        {"type": "text", "text": "Describe."}, {"type": "image_url", "image_url": {"url": "u1", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "u2", "detail": "low"}}]}]
    assert "detail" not in chat_messages("D.", ["u"])[0]["content"][1]["image_url"]
