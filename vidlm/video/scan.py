"""Find the videos a dataset cannot use before training on it: `scan_videos(paths, workers=N)` and `vidlm scan`.

Each file is checked in a worker process under a time limit, so a file that hangs the demuxer or crashes the decoder
becomes a row of the report ("timed out", "the decoder crashed") instead of stopping the scan.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv",
                  ".3gp", ".wmv", ".ogv")


@dataclass
class ScanResult:
    """One file's verdict: `status` is "ok", "damaged" (partly decodable) or "unusable"."""

    path: str
    status: str
    reason: str = ""
    frames: int | None = None  # frames that decode
    duration: float | None = None  # seconds
    fps: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def usable(self) -> bool:
        return self.status != "unusable"


def check_video(path, full: bool = True) -> ScanResult:
    """Check one file in this process. full: decode every frame (finds damage anywhere); else sample 8 frames."""
    import av

    from vidlm.video.decode import VideoDecodeError, _count_pass, load_video
    from vidlm.video.index import scan_packets

    path = os.fspath(path)
    try:
        clip = load_video(path, num_frames=8, size=16)  # small frames: the check is about decoding, not pixels
        with av.open(path) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
        result = ScanResult(path, "ok", "", clip.total_frames, round(clip.duration, 3), round(clip.fps, 3), width,
                            height)
        if full:
            table = scan_packets(path)
            _, _, decoded, corrupt = _count_pass(path, set(), None)
            result.frames = decoded
            listed = max(table.packets, table.stated_frames)
            problems = [f"only {decoded} of {listed} frames decode"] if decoded < listed else []
            if corrupt:
                named = ", ".join(map(str, corrupt[:5])) + (f" and {len(corrupt) - 5} more" if len(corrupt) > 5 else "")
                problems.append(f"frame{'s' if len(corrupt) > 1 else ''} {named} "
                                f"decode{'' if len(corrupt) > 1 else 's'} with errors (the decoder concealed them)")
            if table.read_error:
                problems.append(f"the file cannot be read past frame {table.packets} ({table.read_error})")
            size = os.path.getsize(path)
            unread = size - table.end_byte
            if not table.stated_frames and unread > 0.1 * size:  # MP4s keep their index at the end
                problems.append(f"the demuxer stopped after frame {table.packets} with {unread} bytes unread")
            if problems:
                result.status, result.reason = "damaged", "; ".join(problems)
        return result
    except VideoDecodeError as err:
        return ScanResult(path, "unusable", err.reason)
    except Exception as err:  # noqa: BLE001 — any failure of one file is that file's verdict, never the scan's end
        return ScanResult(path, "unusable", f"{type(err).__name__}: {err}")


def expand_paths(paths) -> list[str]:
    """Files as given, and the video files under any folder (recursively, sorted)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file())
        else:
            found.append(str(p))
    return found


def scan_videos(paths, workers: int = 2, full: bool = True, timeout: float = 300.0,
                progress: bool = True) -> list[ScanResult]:
    """Check every video (files or folders), `workers` at a time; one `ScanResult` per file, in input order.

    timeout: seconds one file may take before it is reported as "timed out" and its worker replaced.
    """
    from vidlm.runtime.progress import tqdm

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    files = expand_paths(paths)
    results: list[ScanResult | None] = [None] * len(files)
    pending = list(enumerate(files))[::-1]
    idle: list[_Worker] = []
    busy: list[_Worker] = []
    bar = tqdm(total=len(files), desc="scanning", unit="video", disable=not progress)
    try:
        while pending or busy:
            while pending and (idle or len(busy) < workers):
                worker = idle.pop() if idle else _Worker(full)
                worker.start(*pending.pop())
                busy.append(worker)
            readable, _, _ = select.select([w.process.stdout for w in busy], [], [], 1.0)
            for worker in list(busy):
                outcome = worker.outcome(worker.process.stdout in readable, timeout)
                if outcome is not None:
                    busy.remove(worker)
                    results[worker.index] = outcome
                    bar.update(1)
                    (idle if worker.process.poll() is None else []).append(worker)
    finally:
        bar.close()
        for worker in idle + busy:
            worker.stop()
    return results


class _Worker:
    """A `python -m vidlm.video.scan --serve` process checking one file at a time; replaced when it dies or overruns.

    A subprocess rather than multiprocessing: nothing of the caller (a notebook, a script without a main guard)
    is re-imported, and a crash in the decoder takes down only this process.
    """

    def __init__(self, full: bool):
        self.process = subprocess.Popen(_worker_command(full), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.index, self.path, self.since = None, None, 0.0

    def start(self, index: int, path: str) -> None:
        self.index, self.path, self.since = index, path, time.monotonic()
        self.process.stdin.write(json.dumps(path) + "\n")
        self.process.stdin.flush()

    def outcome(self, readable: bool, timeout: float) -> ScanResult | None:
        if readable:
            line = self.process.stdout.readline()
            if line:
                return ScanResult(**json.loads(line))
            self.process.wait(5)  # end of output: the process died on this file
            return ScanResult(self.path, "unusable", f"the decoder crashed (exit code {self.process.returncode})")
        if time.monotonic() - self.since > timeout:
            self.stop()
            return ScanResult(self.path, "unusable", f"timed out after {timeout:g} s")
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


def _worker_command(full: bool) -> list[str]:
    return [sys.executable, "-m", "vidlm.video.scan", "--serve"] + ([] if full else ["--quick"])


def _serve(full: bool) -> None:
    """The worker's loop: a JSON path per line in, a JSON result per line out."""
    for line in sys.stdin:
        print(json.dumps(asdict(check_video(json.loads(line), full))), flush=True)


def report(results: list[ScanResult]) -> str:
    """A plain-text summary: counts, then every file that is not ok and why."""
    bad = [r for r in results if r.status != "ok"]
    lines = [f"{len(results)} videos: {len(results) - len(bad)} ok, "
             f"{sum(r.status == 'damaged' for r in bad)} damaged, {sum(r.status == 'unusable' for r in bad)} unusable"]
    lines += [f"{r.status:>9}  {r.path}: {r.reason}" for r in bad]
    return "\n".join(lines)


def write_report_csv(results: list[ScanResult], path) -> Path:
    import csv

    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(ScanResult)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
    return path


if __name__ == "__main__":
    _serve(full="--quick" not in sys.argv)
