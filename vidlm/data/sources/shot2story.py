"""Shot2Story: the annotation JSON (`20k_{train,val,test}.json`, `43k_human_train.json`, ...) → `Sample`s.

A record has `video`, `image_id`, `nvid` (the multi-shot clip's file name), `id`, `whole_caption` (summary),
`whole_ASR`, `video_names` (one shot file per shot, named `{clip}_{startframe}_{endframe}.mp4`), `captions`,
`audio_captions` and `ASR` (one per shot). Two tasks:
- "shots": single-shot captioning, one sample per shot (shot → its caption, optionally its ASR in the prompt);
- "summary": multi-shot summarization, one sample per record (the whole clip → `whole_caption`).
Shot files that do not exist yet are cut from the multi-shot clip with `vidlm.video.shots.cut_shots` (frames
[start, end), end exclusive, as vidlm.video.shots reads the names); existing shots are kept, so a rerun resumes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from vidlm.data.samples import Sample
from vidlm.data.sources.common import (OUTSIDE, Loaded, SkipReport, finish, first_problem, path_in, read_json_list,
                                 usable_video)

SHOT_PROMPT = "Describe the video."
SUMMARY_PROMPT = "Describe the video in detail, shot by shot."
ASR_TEMPLATE = '{prompt} What is said in it: "{asr}"'


def load_shot2story(annotations, video_dir, shot_dir=None, task: Literal["shots", "summary"] = "shots",
                    with_asr: bool = False, prompt: str | None = None, asr_template: str = ASR_TEMPLATE,
                    cut: bool = True, check_videos: bool = False, warn: bool = True) -> Loaded:
    """Samples from a Shot2Story annotation file.

    video_dir: the multi-shot clips (`video_dir/<nvid>`). shot_dir: the shot files (default `video_dir/shots`);
    missing shots are cut there from their clip when `cut` is true.
    with_asr: put each shot's (or the clip's) speech transcript into the prompt with `asr_template`; records with no
    speech get the plain prompt.
    The split (`train`, `val`, `test`) is read from the file name into `meta["split"]` (see `vidlm.data.splits`).
    Records come from a download, so their file names are untrusted: one that is absolute, or leads out of video_dir
    (or shot_dir) through `..` or a symlink, is skipped ("path outside its folder").

    Returns `(samples, report)`; every record or shot not turned into a sample is in the report with its reason.
    """
    if task not in ("shots", "summary"):
        raise ValueError(f"task must be 'shots' (single-shot captioning) or 'summary' (multi-shot), got {task!r}")
    path = Path(annotations)
    records = read_json_list(path, "a Shot2Story annotation file is one JSON list")
    video_dir = Path(video_dir)
    shot_dir = Path(shot_dir) if shot_dir is not None else video_dir / "shots"
    split = next(iter(re.findall(r"(train|val|test)", path.stem)), "")
    report = SkipReport(str(path), records=len(records))
    samples = []
    for position, record in enumerate(records):
        record_id = record.get("id") if isinstance(record, dict) else None
        record_id = str(record_id) if isinstance(record_id, (str, int)) and not isinstance(record_id, bool) \
            else f"record {position}"
        # `nvid` names the clip's file; older files only have `video`
        name_key = "video" if isinstance(record, dict) and "nvid" not in record and "video" in record else "nvid"
        problem = first_problem(record, {name_key: str})
        if problem:
            report.add(record_id, *problem)
            continue
        try:  # the record names the file: an absolute path, `..` or a symlink must not lead out of video_dir
            clip_path = path_in(video_dir, record[name_key])
        except ValueError as err:
            report.add(record_id, OUTSIDE, err)
            continue
        meta = {"video_id": record_id, "nvid": record[name_key], "split": split,
                "image_id": record.get("image_id", "")}
        if task == "summary":
            samples += _summary(record_id, record, clip_path, meta, report, prompt or SUMMARY_PROMPT, with_asr,
                                asr_template)
        else:
            samples += _shots(record_id, record, clip_path, shot_dir, meta, report, prompt or SHOT_PROMPT, with_asr,
                              asr_template, cut)
    return finish(samples, report, check_videos, warn)


def _with_asr(prompt: str, asr, template: str) -> str:
    return template.format(prompt=prompt, asr=asr.strip()) if isinstance(asr, str) and asr.strip() else prompt


def _summary(record_id, record, clip_path, meta, report, prompt, with_asr, template) -> list[Sample]:
    problem = first_problem(record, {"whole_caption": str})
    if problem:
        report.add(record_id, *(("empty caption", "whole_caption") if problem[0].startswith("empty") else problem))
        return []
    if not usable_video(clip_path, record_id, report):
        return []
    asr = record.get("whole_ASR") if with_asr else None
    return [Sample(id=record_id, video=str(clip_path), answer=record["whole_caption"].strip(),
                   instruction=_with_asr(prompt, asr, template), source="shot2story",
                   meta={**meta, "task": "summary", "asr": record.get("whole_ASR") or ""})]


def _per_shot(record, key: str, count: int) -> list:
    """record[key] when it is a list of `count` entries, else `count` Nones (optional per-shot fields)."""
    value = record.get(key)
    return value if isinstance(value, list) and len(value) == count else [None] * count


def _shots(record_id, record, clip_path, shot_dir, meta, report, prompt, with_asr, template, cut) -> list[Sample]:
    from vidlm.video.shots import cut_shots, parse_shot_name
    from vidlm.video.decode import VideoDecodeError

    problem = first_problem(record, {"video_names": list, "captions": list})
    if problem:
        report.add(record_id, *problem)
        return []
    names, captions = record["video_names"], record["captions"]
    if len(names) != len(captions):
        report.add(record_id, "'video_names' and 'captions' differ in length", f"{len(names)} vs {len(captions)}")
        return []
    asrs, audio = _per_shot(record, "ASR", len(names)), _per_shot(record, "audio_captions", len(names))
    samples = []
    for i, (name, caption) in enumerate(zip(names, captions)):
        label = f"{record_id}#{i}"
        if not isinstance(caption, str):
            report.add(label, "wrong type for a shot caption", f"{type(caption).__name__} {caption!r:.60}")
            continue
        if not caption.strip():
            report.add(label, "empty caption")
            continue
        try:
            clip, start, end = parse_shot_name(name if isinstance(name, str) else "")
        except ValueError:
            report.add(label, "bad shot name", f"{name!r} (expected CLIP_STARTFRAME_ENDFRAME.mp4)")
            continue
        try:
            shot_path = path_in(shot_dir, Path(name).name)
        except ValueError as err:
            report.add(label, OUTSIDE, err)
            continue
        if not shot_path.is_file():
            if not cut or not clip_path.is_file():
                report.add(label, "video not found", f"{shot_path}" + (f" (nor its clip {clip_path})" if cut else ""))
                continue
            try:
                cut_shots(clip_path, shot_dir, shots=[(start, end)], clip=clip)
            except (VideoDecodeError, ValueError) as err:
                report.add(label, "cannot cut the shot", err)
                continue
        if not usable_video(shot_path, label, report):
            continue
        samples.append(Sample(id=shot_path.stem, video=str(shot_path), answer=caption.strip(),
                              instruction=_with_asr(prompt, asrs[i], template) if with_asr else prompt,
                              source="shot2story",
                              meta={**meta, "task": "shot", "shot": i, "start_frame": start, "end_frame": end,
                                    "asr": asrs[i] if isinstance(asrs[i], str) else "",
                                    "audio_caption": audio[i] if isinstance(audio[i], str) else ""}))
    return samples
