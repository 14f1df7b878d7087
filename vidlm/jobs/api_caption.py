"""Caption videos through an OpenAI-compatible chat-completions server: `vidlm caption --backend openai`.

    export OPENAI_API_KEY=...
    vidlm caption videos.csv --output captions.csv --backend openai --model gpt-4o --prompt-name detailed_examples
    vidlm caption videos.csv --output captions.csv --backend openai --model Qwen/Qwen2.5-VL-7B-Instruct \\
        --base-url http://localhost:8000/v1 --concurrency 16          # a vLLM server (Ollama: :11434/v1)

Each video is one request: a user message with the instruction and its frames (default 3, at 10/50/90% of the
video, as Open-Sora's GPT-4V captioner took them) as JPEG data URIs. `concurrency` requests are in flight at once
(threads: the work is waiting on the network). A request that meets a 429, a 5xx, a timeout, a dropped connection
or a malformed reply is tried again after an exponential backoff with jitter, or after the server's Retry-After.

What happens when it keeps failing:
- the server refuses one video (another 4xx, an empty reply, retries of a malformed reply used up): that row is
  written as failed with the reason, like an undecodable video; `retry_failed` tries it again on resume;
- the key is refused (401/403), the model or URL is unknown (404), or retries of 429/5xx/timeouts/connection errors
  are used up: the run stops with a one-line `CaptionError`; the rows written so far are kept and the same command
  resumes.
The output columns, part files and resume are those of local captioning (`vidlm.jobs.rows` runs both). run.json's
`api_usage` has the requests, retries by cause and tokens of this run and of all runs into the output (resumes
included), and with prices set a cost estimate; it is rewritten every few seconds, so a kill loses little of it.

The key is read from the environment variable `api_key_env` names and nothing else: it is not a setting, so it
never reaches run.json, and messages built from server replies have it masked.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vidlm.jobs.caption_files import ERROR, FAILED, OK, ROW, STATUS, TEXT, CaptionError

OPENAI_URL = "https://api.openai.com/v1"
# With no key in the environment, servers that need none (vLLM or Ollama started without one) get this.
NO_KEY = "not-needed"


class RowFailure(Exception):
    """This video cannot be captioned by the server (its row is written as failed, with this message)."""


class _Stopped(Exception):
    """Another request met an error that stops the run."""


@dataclass
class Usage:
    """What the requests of a run cost: HTTP attempts, retries by cause, and tokens as the server counted them."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retried: dict = field(default_factory=dict)  # cause ("429", "500", "timeout", "connection", "malformed") → count

    def add(self, other: Usage) -> Usage:
        retried = dict(self.retried)
        for cause, n in other.retried.items():
            retried[cause] = retried.get(cause, 0) + n
        return Usage(self.requests + other.requests, self.retries + other.retries,
                     self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     retried)

    def record(self, price_input_per_1m=None, price_output_per_1m=None) -> dict:
        out = {**asdict(self), "total_tokens": self.prompt_tokens + self.completion_tokens}
        if price_input_per_1m is not None or price_output_per_1m is not None:
            out["estimated_cost"] = round(self.prompt_tokens * (price_input_per_1m or 0) / 1e6
                                          + self.completion_tokens * (price_output_per_1m or 0) / 1e6, 6)
        return out

    @classmethod
    def from_record(cls, record) -> Usage:
        """The usage in a run.json's `api_usage.total` (zero when absent or not readable)."""
        try:
            return cls(*(int(record[k]) for k in ("requests", "retries", "prompt_tokens", "completion_tokens")),
                       {str(k): int(v) for k, v in record.get("retried", {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls()


def recorded_usage(record_path) -> Usage:
    """The API usage that earlier runs recorded in `record_path` (run.json), zero without one."""
    try:
        record = json.loads(Path(record_path).read_text())
    except (OSError, ValueError):
        return Usage()
    return Usage.from_record((record.get("api_usage") or {}).get("total") if isinstance(record, dict) else None)


def usage_record(config, used: Usage, before: Usage) -> dict:
    """run.json's `api_usage`: this run's, and the total with earlier runs into the same output (resumes)."""
    prices = config.price_input_per_1m, config.price_output_per_1m
    return {"this_run": used.record(*prices), "total": before.add(used).record(*prices),
            "prices_per_1m": {"input": prices[0], "output": prices[1]}}


def frame_indices(total: int, positions: list[float]) -> list[int]:
    """The frame shown at each fraction of a `total`-frame video (1.0 is the last frame)."""
    return [min(total - 1, int(p * total)) for p in positions]


def sample_frames(path, config) -> np.ndarray:
    """The frames sent for one video (uint8 [T, H, W, 3]), as `config` places and sizes them."""
    from vidlm.video.decode import load_video

    positions = config.positions()
    if positions is None:
        return load_video(path, num_frames=config.num_frames, size=config.image_size).frames
    total = load_video(path, num_frames=1).total_frames  # the lazy index answers this without decoding much
    return load_video(path, indices=frame_indices(total, positions), size=config.image_size).frames


def jpeg_data_uri(frame: np.ndarray, quality: int = 90) -> str:
    """`data:image/jpeg;base64,…` of one RGB frame."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(prompt: str, image_urls: list[str], detail: str = "auto") -> list[dict]:
    """One user message: the instruction, then the frames in order."""
    images = [{"type": "image_url", "image_url": {"url": url, **({} if detail == "auto" else {"detail": detail})}}
              for url in image_urls]
    return [{"role": "user", "content": [{"type": "text", "text": prompt}, *images]}]


def retry_after_s(headers) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, `retry-after` in seconds or as an HTTP date; else None."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        return max(0.0, seconds)
    return None


def retry_delay(retry: int, retry_after: float | None, base_s: float, max_s: float, rand=random.random) -> float:
    """Seconds to wait before retry number `retry` (0 for the first).

    Exponential backoff with "equal jitter" (half fixed, half random), so that many threads or processes that failed
    together do not retry together; a server's Retry-After is honoured, with up to 10% more as jitter.
    """
    if retry_after is not None:
        return retry_after * (1 + 0.1 * rand())
    backoff = min(max_s, base_s * 2 ** retry)
    return backoff / 2 + backoff / 2 * rand()


class ApiClient:
    """Chat-completion requests for captions, with retries; counts requests, retries and tokens (thread-safe)."""

    def __init__(self, config):
        try:
            import openai
        except ImportError:
            raise CaptionError("The openai backend needs the `openai` package: pip install 'vidlm[api]' (or pip "
                               "install openai)") from None
        self.config, self.openai = config, openai
        self.url = config.base_url or OPENAI_URL
        key = os.environ.get(config.api_key_env, "").strip()
        if not key and config.base_url is None:
            raise CaptionError(f"No API key: set the environment variable {config.api_key_env} (or name another "
                               "with --api-key-env), or pass --base-url for a server that needs none")
        self._key = key or NO_KEY
        # The client's own retries are off: these are counted, honour Retry-After and stop the run when needed.
        self.client = openai.OpenAI(api_key=self._key, base_url=self.url, timeout=config.request_timeout_s,
                                    max_retries=0)
        self.stop = threading.Event()  # set when the run stops: requests give up at their next retry
        self.usage = Usage()
        self._lock = threading.Lock()

    def masked(self, text: str) -> str:
        """`text` (from a server or an exception) with the key masked; servers do echo keys they refuse."""
        text = " ".join(str(text).split())
        return text.replace(self._key, "***") if self._key != NO_KEY else text

    def _count(self, **added) -> None:
        with self._lock:
            for name, n in added.items():
                setattr(self.usage, name, getattr(self.usage, name) + n)

    def caption(self, prompt: str, image_urls: list[str]) -> str:
        """The caption of one video's frames; raises RowFailure (this video) or CaptionError (stop the run)."""
        config = self.config
        for retry in range(config.max_retries + 1):
            if self.stop.is_set():
                raise _Stopped
            cause, wait_s, problem = self._attempt(prompt, image_urls)
            if cause is None:
                return problem  # the caption
            if retry == config.max_retries:
                break
            delay = retry_delay(retry, wait_s, config.retry_base_s, config.retry_max_s)
            if wait_s is not None and wait_s > config.retry_max_s:
                raise CaptionError(f"{self.url} asks to wait {wait_s:.0f} s before the next request (Retry-After), "
                                   f"longer than retry_max_s={config.retry_max_s:g}: run the same command again "
                                   "later; the rows captioned so far are kept")
            with self._lock:
                self.usage.retries += 1
                self.usage.retried[cause] = self.usage.retried.get(cause, 0) + 1
            if self.stop.wait(delay):
                raise _Stopped
        tries = config.max_retries + 1
        if cause == "malformed":
            raise RowFailure(f"{problem} ({tries} tries)")
        raise CaptionError(f"{problem} ({tries} tries, the last {config.max_retries} after backoff). The rows "
                           "captioned so far are kept: run the same command again to resume.")

    def _attempt(self, prompt, image_urls) -> tuple[str | None, float | None, str]:
        """One request: (None, None, caption) or (retry cause, Retry-After or None, what went wrong)."""
        openai, config = self.openai, self.config
        self._count(requests=1)
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=config.model, messages=chat_messages(prompt, image_urls, config.image_detail),
                max_tokens=config.max_new_tokens, temperature=config.temperature)
        except openai.APITimeoutError:
            return "timeout", None, f"{self.url} did not answer within {config.request_timeout_s:g} s"
        except openai.APIConnectionError as err:
            reason = self.masked(err.__cause__ or err)
            return "connection", None, f"Cannot reach the server at {self.url}: {reason}"
        except openai.APIStatusError as err:
            status = err.status_code
            if status in (401, 403):  # the server's text is left out: some echo the key they refused
                raise CaptionError(f"{self.url} refused the API key from ${config.api_key_env} (HTTP {status}): "
                                   f"check the key, or name the variable holding the right one with "
                                   "--api-key-env") from None
            detail = self.masked(_server_message(err))[:300]
            if status == 404:
                raise CaptionError(f"{self.url} answered 404 Not Found for model {config.model!r}: check --model "
                                   f"and --base-url ({detail})") from None
            if status in (408, 409, 429) or status >= 500:
                return str(status), retry_after_s(err.response.headers), f"{self.url} answered HTTP {status}: {detail}"
            raise RowFailure(f"{self.url} refused this video (HTTP {status}): {detail}") from None
        try:
            text, usage = parse_reply(raw.http_response.content)
        except ValueError as err:
            return "malformed", None, f"{self.url} sent a malformed reply: {self.masked(err)}"
        self._count(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0))
        if not text.strip():
            raise RowFailure(f"{self.url} returned an empty caption")
        return None, None, text.strip()


def _server_message(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    return str(body if body else err.message)


def parse_reply(content: bytes) -> tuple[str, dict]:
    """(caption, usage) from a chat-completion response body; ValueError naming what is missing."""
    try:
        reply = json.loads(content)
    except ValueError:
        raise ValueError(f"not JSON: {content[:80]!r}") from None
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError(f"no choices in {json.dumps(reply)[:120]}")
    text = (choices[0].get("message") or {}).get("content")
    if not isinstance(text, str):
        raise ValueError(f"no message content in {json.dumps(choices[0])[:120]}")
    usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
    usage = {k: v for k, v in usage.items() if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int)}
    return text, usage


def client_for(config, proc) -> ApiClient:
    """The client of a run, made before any file is written: a missing key or package fails first."""
    if proc.world_size > 1:
        raise CaptionError(f"The openai backend runs its requests concurrently in one process (--concurrency); "
                           f"start it without torchrun / accelerate launch (WORLD_SIZE={proc.world_size})")
    return ApiClient(config)


def caption_through_api(job, config, prompt: str):
    """Run `job` (vidlm.jobs.rows: part files, resume, merge) with captions from the server; its run record gets
    `api_usage`, updated every few seconds so that a killed run's requests are mostly counted."""
    from vidlm.jobs.caption_files import run_record_path
    from vidlm.runtime.launch import process_info
    from vidlm.jobs.rows import run_rows

    client = client_for(config, process_info())
    record = run_record_path(job.output)
    before = recorded_usage(record)  # what earlier runs into this output spent: run_rows rewrites the record

    def save() -> None:
        _add_to_record(record, api_usage=usage_record(config, client.usage, before))

    try:
        result = run_rows(job, lambda shard: caption_rows(job.table, shard.rows, prompt, client, save))
    finally:
        save()
    return result


def _add_to_record(path, **values) -> None:
    from vidlm.runtime.atomic import write_text

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):  # not written yet (an error before the run started): nothing to add to
        return
    write_text(path, json.dumps({**record, **values}, indent=2, default=str) + "\n")


def caption_rows(table, rows: list[int], prompt: str, client: ApiClient, save_usage=None):
    """Caption `rows` through the server, `client.config.concurrency` at a time: yields lists of finished records.

    save_usage() is called every few seconds and at the end.
    """
    config, stop = client.config, client.stop

    def one(row: int) -> dict:
        record = {ROW: row, TEXT: "", STATUS: FAILED, ERROR: ""}
        path = table.video_path(row)
        if path is None:
            return {**record, ERROR: "empty path"}
        try:
            frames = sample_frames(path, config)
        except Exception as err:  # VideoDecodeError names the file; anything else must fail this row only
            from vidlm.video.decode import VideoDecodeError

            return {**record, ERROR: str(err) if isinstance(err, VideoDecodeError) else
                    f"{path}: {type(err).__name__}: {err}"}
        urls = [jpeg_data_uri(f, config.jpeg_quality) for f in frames]
        try:
            return {**record, TEXT: client.caption(prompt, urls), STATUS: OK}
        except RowFailure as err:
            return {**record, ERROR: str(err)}

    todo, pending, errors = iter(rows), set(), []
    saved = time.monotonic()
    pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="vidlm-api")

    def collect(futures) -> list[dict]:
        records = []
        for future in futures:
            try:
                records.append(future.result())
            except _Stopped:
                pass
            except Exception as err:  # stops the run; the rows that did finish are kept
                errors.append(err)
                stop.set()
        return records

    try:
        while not errors:
            for row in todo:  # keep every thread busy, and nothing more queued (frames are held in memory)
                pending.add(pool.submit(one, row))
                if len(pending) >= config.concurrency:
                    break
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            records = collect(finished)
            if records:
                yield records
            if save_usage is not None and time.monotonic() - saved > 5:
                save_usage()
                saved = time.monotonic()
        if errors:  # requests already under way finish (or give up at their next retry)
            records = collect(wait(pending).done)
            if records:
                yield records
            raise errors[0]
    finally:
        stop.set()  # on any exit: requests still queued or retrying give up
        pool.shutdown(wait=True, cancel_futures=True)
        if save_usage is not None:
            save_usage()
