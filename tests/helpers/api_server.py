"""A local OpenAI-compatible chat-completions server for the API captioning tests, backed by a real (tiny) model.

    with CaptionServer(caption_fn, key="sk-test") as server:   # http.server on 127.0.0.1, a free port, a thread
        server.faults.extend(["429", "timeout"])                 # what the next requests get instead of a caption
        ... base_url=server.url ...

It decodes each request's JPEG data URIs back into frames and answers with `caption_fn(frames, prompt,
max_tokens)` → (caption, prompt_tokens, completion_tokens). Faults, taken one per request in order: "429" (with
Retry-After: `retry_after` seconds), "500", "503", "400" (echoing the key), "timeout" (answers after `slow_s`, later
than the client waits), "not json", "no choices", "no content"; None lets one request through. `log` keeps every
request: arrival time, what was answered, the frames and prompt. A request with the wrong key gets 401 with the key
echoed in the body, as some servers do, so the tests can check that vidlm never repeats it.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def decode_data_uri(url: str) -> np.ndarray:
    from PIL import Image

    head, _, data = url.partition(",")
    if head != "data:image/jpeg;base64":
        raise ValueError(f"not a JPEG data URI: {head[:40]!r}")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


class CaptionServer:
    def __init__(self, caption_fn, key: str | None = "sk-test", retry_after: float = 0.3, slow_s: float = 1.5,
                 delay_s: float = 0.0):
        self.caption_fn, self.key = caption_fn, key
        self.retry_after, self.slow_s, self.delay_s = retry_after, slow_s, delay_s
        self.faults: deque[str] = deque()
        self.log: list[dict] = []
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()  # one generation at a time: the model is not thread-safe
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answered(self, what: str) -> list[dict]:
        return [entry for entry in self.log if entry["answer"] == what]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        entry = {"time": time.monotonic(), "path": h.path}
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        with self._lock:
            self.log.append(entry)
            fault = self.faults.popleft() if self.faults else None
        given = h.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.key is not None and given != self.key:
            entry["answer"] = "401"
            return _send(h, 401, {"error": {"message": f"Incorrect API key provided: {given}.", "type":
                                            "invalid_request_error", "code": "invalid_api_key"}})
        if h.path != "/v1/chat/completions":
            entry["answer"] = "404"
            return _send(h, 404, {"error": {"message": f"no route {h.path}"}})
        request = json.loads(body)
        content = request["messages"][0]["content"]
        entry["model"] = request["model"]
        entry["prompt"] = next(c["text"] for c in content if c["type"] == "text")
        entry["images"] = [c["image_url"] for c in content if c["type"] == "image_url"]
        entry["answer"] = fault or "ok"
        if self.delay_s:
            time.sleep(self.delay_s)
        if fault == "429":
            return _send(h, 429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                         {"Retry-After": str(self.retry_after)})
        if fault in ("500", "503"):
            return _send(h, int(fault), {"error": {"message": f"injected {fault}"}})
        if fault == "400":
            return _send(h, 400, {"error": {"message": f"injected 400 (key {given})"}})
        if fault == "not json":
            return _send(h, 200, None, raw=b"{'choices': [truncated")
        if fault == "no choices":
            return _send(h, 200, {"id": "x", "object": "chat.completion", "choices": []})
        if fault == "no content":
            return _send(h, 200, {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message":
                                                                                        {"role": "assistant"}}]})
        frames = np.stack([decode_data_uri(image["url"]) for image in entry["images"]])
        entry["frames"] = frames
        with self._model_lock:
            text, prompt_tokens, completion_tokens = self.caption_fn(frames, entry["prompt"], request["max_tokens"])
        entry.update(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        if fault == "timeout":
            time.sleep(self.slow_s)  # the client has given up by now: this answer goes nowhere
        _send(h, 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                       "model": request["model"], "choices": [{"index": 0, "finish_reason": "stop", "message":
                                                               {"role": "assistant", "content": text}}],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}})


def _send(h, status: int, payload, headers: dict | None = None, raw: bytes | None = None) -> None:
    data = raw if raw is not None else json.dumps(payload).encode()
    try:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
        pass
