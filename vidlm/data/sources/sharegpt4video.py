"""ShareGPT4Video: `sharegpt4video_40k.jsonl` and its per-source video zips → `Sample`s.

A record (one JSON object per line) has `video_id`, `video_path` (the file name is its last component), `timestamp`
and `keyframe` (one entry per keyframe), `captions` — a list of `{"idx": "...", "content": "..."}` — and, in the
published file, `zip_folder` (the zip holding the video, e.g. `mixkit_videos_1.zip`). Videos ship as zips per source
folder (mixkit, pexels, pixabay, ego4d, bdd100k); `extract_videos` takes out only the ones a load needs.

How vidlm reads the per-keyframe captions (the dataset card does not spell it out): `timestamp[k]` is the time in
seconds of keyframe k and `keyframe[k]` its frame index; the caption with `idx == "k"` describes the video from
keyframe k to keyframe k + 1, so its window is `[timestamp[k], timestamp[k+1])`, and the last keyframe's caption
runs to the end of the video (`math.inf`). `idx == "-1"` is the whole-video summary.
"""

from __future__ import annotations

import math
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidlm.data.samples import Sample
from vidlm.data.sources.common import (OUTSIDE, Loaded, SkipReport, find_video, finish, first_problem, path_in,
                                 read_jsonl, video_problem)

SOURCES = ("mixkit", "pexels", "pixabay", "ego4d", "bdd100k")
SUMMARY_PROMPT = "Describe the video in detail."
KEYFRAME_PROMPT = "Describe what happens in this part of the video."


def record_source(record: dict) -> str:
    """The source folder a record's video comes from: the `zip_folder` prefix (`pexels_videos_3.zip` → pexels), else
    a known source named in `video_path`, else the first folder of `video_path`."""
    zip_name = record.get("zip_folder")
    if isinstance(zip_name, str) and zip_name:
        prefix = Path(zip_name).name.split("_")[0].lower()
        if prefix:
            return prefix
    parts = Path(str(record.get("video_path", ""))).parts
    for part in parts:
        if part.lower() in SOURCES:
            return part.lower()
    return parts[0].lower() if len(parts) > 1 else "unknown"


@dataclass
class ZipMember:
    """Where a video lies inside a zip."""

    zip_path: Path
    name: str  # the member's name inside the zip
    size: int  # uncompressed bytes


def index_zips(zip_dir) -> dict[str, ZipMember]:
    """{video file name: ZipMember} over every zip under `zip_dir` (reads only the zips' central directories)."""
    index = {}
    for zip_path in sorted(Path(zip_dir).rglob("*.zip")):
        try:
            with zipfile.ZipFile(zip_path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        index.setdefault(Path(info.filename).name, ZipMember(zip_path, info.filename, info.file_size))
        except zipfile.BadZipFile:
            continue  # reported per record: its video is then "not found in any zip"
    return index


def extract_member(member: ZipMember, target: Path) -> Path:
    """Stream one zip member to `target`; an existing file of the right size is kept (so reruns resume).

    The bytes go to a temporary name first and are renamed when complete: an interrupted extraction never leaves a
    half-written video under the final name.
    """
    target = Path(target)
    if target.is_file() and target.stat().st_size == member.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(member.zip_path) as archive, archive.open(member.name) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)  # streamed: a 2 GB video never sits in memory
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def load_sharegpt4video(annotations, video_dir, zip_dir=None, sources=None,
                        captions: Literal["summary", "keyframes"] = "summary", max_videos: int | None = None,
                        max_bytes: int | None = None, summary_prompt: str = SUMMARY_PROMPT,
                        keyframe_prompt: str = KEYFRAME_PROMPT, check_videos: bool = False,
                        warn: bool = True) -> Loaded:
    """Samples from `sharegpt4video_40k.jsonl`, extracting the videos they need from the zips in `zip_dir`.

    video_dir: where videos are (or will be extracted): `video_dir/<source>/<file name>` (also found directly in
        video_dir or at `video_dir/<video_path>`). Records come from a download, so their paths are untrusted: one
        that is absolute, or leads out of video_dir through `..` or a symlink, is skipped ("path outside its
        folder") and nothing is read or written for it.
    sources: which sources to use, e.g. `["mixkit", "pexels"]` (None: all).
    captions: "summary" — one sample per video, its whole-video caption; "keyframes" — one sample per keyframe
        caption, with its time window (see the module docstring).
    max_videos, max_bytes: keep videos in file order until either cap is reached (the seed cut 40k videos to ~10 GB:
        `max_bytes=10e9`); sizes come from the zip directories, so nothing is extracted to measure it.
    check_videos: decode-check every video (`vidlm.video.scan`) and skip unreadable ones (slower; off by default).

    Returns `(samples, report)`; every record not turned into samples is in the report with its reason.
    """
    if captions not in ("summary", "keyframes"):
        raise ValueError(f"captions must be 'summary' or 'keyframes', got {captions!r}")
    wanted_sources = None if sources is None else {s.lower() for s in ([sources] if isinstance(sources, str)
                                                                        else sources)}
    video_dir = Path(video_dir)
    report = SkipReport(str(annotations))
    index = index_zips(zip_dir) if zip_dir is not None else {}
    checks = {"video_id": str, "video_path": str, "captions": list}
    if captions == "keyframes":
        checks.update(timestamp=list, keyframe=list)
    build = _summary_sample if captions == "summary" else _keyframe_samples
    prompt = summary_prompt if captions == "summary" else keyframe_prompt
    chosen, total_bytes = [], 0
    for label, record in read_jsonl(annotations, report):
        record_id = record.get("video_id") if isinstance(record.get("video_id"), str) else label
        source = record_source(record)
        if wanted_sources is not None and source not in wanted_sources:
            report.leave_out(f"source not chosen ({source})")
            continue
        problem = first_problem(record, checks)
        if problem:
            report.add(record_id, *problem)
            continue
        name = Path(record["video_path"]).name
        try:  # the record names the folders: an absolute path, `..` or a symlink must not lead out of video_dir
            path_in(video_dir, record["video_path"])
            path_in(video_dir, source)
            places = [path_in(video_dir, Path(source) / name), path_in(video_dir, name)]
        except ValueError as err:
            report.add(record_id, OUTSIDE, err)
            continue
        on_disk = find_video([*places, video_dir / record["video_path"]])
        member = index.get(name)
        if on_disk is None and member is None:
            where = f"{video_dir / source / name}" + (f" or in the zips under {zip_dir}" if zip_dir else "")
            report.add(record_id, "video not found", where)
            continue
        target = on_disk if on_disk is not None else places[0]
        built = build(record_id, record, source, str(target), report, prompt)
        if not built:
            continue  # reported by build; its video is not extracted
        size = on_disk.stat().st_size if on_disk is not None else member.size
        if max_videos is not None and len(chosen) >= max_videos:
            report.leave_out(f"over max_videos={max_videos}")
            continue
        if max_bytes is not None and total_bytes + size > max_bytes:
            report.leave_out(f"over max_bytes={max_bytes:g}")
            continue
        total_bytes += size
        chosen.append((record_id, built, target, on_disk, member))
    samples = []
    for record_id, built, target, on_disk, member in chosen:
        if on_disk is None:
            try:
                extract_member(member, target)
            except (zipfile.BadZipFile, OSError, EOFError) as err:  # a damaged zip or CRC error: this video only
                report.add(record_id, "cannot extract the video", f"{member.zip_path}:{member.name} ({err})")
                continue
        problem = video_problem(target)
        if problem:
            report.add(record_id, "unreadable video", f"{target} ({problem})")
            continue
        samples += built
    return finish(samples, report, check_videos, warn)


def _meta(record: dict) -> dict:
    return {"video_id": record["video_id"], "video_path": record["video_path"],
            "zip_folder": record.get("zip_folder", "")}


def _captions_by_idx(record_id, record, report, summary: bool) -> dict[str, str]:
    """{idx: content} of the usable caption entries; malformed ones are reported as `<video_id>#<idx>`.

    summary: only the whole-video entry (idx -1) is used, so only its problems are reported, under the record's id.
    """
    found = {}
    for position, entry in enumerate(record["captions"]):
        idx = entry.get("idx") if isinstance(entry, dict) else None
        if summary and str(idx).strip() != "-1":
            continue
        label = record_id if summary else f"{record_id}#{idx if isinstance(idx, (str, int)) else position}"
        if not isinstance(entry, dict):
            report.add(label, "wrong type for a caption", f"{type(entry).__name__} {entry!r:.60}")
        elif not isinstance(idx, (str, int)) or isinstance(idx, bool):
            report.add(label, "missing field 'idx'" if idx is None else "wrong type for 'idx'", repr(idx))
        elif not isinstance(entry.get("content"), str):
            report.add(label, "missing field 'content'" if entry.get("content") is None else "wrong type for 'content'",
                       repr(entry.get("content"))[:60])
        elif not entry["content"].strip():
            report.add(label, "empty caption")
        else:
            found[str(idx).strip()] = entry["content"].strip()
    return found


def _summary_sample(record_id, record, source, video, report, prompt) -> list[Sample]:
    entries = [e for e in record["captions"] if isinstance(e, dict) and str(e.get("idx")).strip() == "-1"]
    if not entries:
        report.add(record_id, "no whole-video caption (idx -1)")
        return []
    summary = _captions_by_idx(record_id, record, report, summary=True).get("-1")
    if summary is None:
        return []
    return [Sample(id=record_id, video=video, answer=summary, instruction=prompt, source=source,
                   meta={**_meta(record), "caption": "summary"})]


def _keyframe_samples(record_id, record, source, video, report, prompt) -> list[Sample]:
    times, frames = record["timestamp"], record["keyframe"]
    if len(times) != len(frames):
        report.add(record_id, "'timestamp' and 'keyframe' differ in length", f"{len(times)} vs {len(frames)}")
        return []
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t >= 0
               for t in times):
        report.add(record_id, "wrong type for 'timestamp'", f"{times!r:.80} (expected seconds, numbers ≥ 0)")
        return []
    samples = []
    for idx, content in _captions_by_idx(record_id, record, report, summary=False).items():
        if idx == "-1":
            continue
        label = f"{record_id}#{idx}"
        k = int(idx) if idx.lstrip("-").isdigit() else None
        if k is None or not 0 <= k < len(times):
            report.add(label, "caption idx names no keyframe", f"idx {idx!r}; {len(times)} keyframes")
            continue
        end = float(times[k + 1]) if k + 1 < len(times) else math.inf
        if not end > times[k]:
            report.add(label, "empty time window", f"[{times[k]}, {end}) s")
            continue
        samples.append(Sample(id=label, video=video, answer=content, instruction=prompt, source=source,
                              window=(float(times[k]), end),
                              meta={**_meta(record), "caption": "keyframe", "keyframe": frames[k], "idx": k}))
    return samples
