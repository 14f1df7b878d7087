"""LLaVA conversation JSON → `Sample`s.

A record: `{"id": ..., "video": path, "conversations": [{"from": "human", "value": "<video>\\n..."},
{"from": "gpt", "value": "..."}, ...]}` — human and gpt turns alternate; the first human turn carries the `<video>`
placeholder. The last (question, answer) pair becomes the sample's instruction and answer, the earlier pairs its
history; the placeholder is removed (vidlm's prompt formatting puts the video where the family expects it).
A JSON list, or JSON Lines (one record per line) when the file ends in `.jsonl`.
"""

from __future__ import annotations

from pathlib import Path

from vidlm.data.samples import Sample
from vidlm.data.sources.common import (OUTSIDE, Loaded, SkipReport, finish, first_problem, path_in, read_json_list,
                                 read_jsonl, usable_video)

VIDEO_PLACEHOLDER = "<video>"
HUMAN, GPT = ("human", "user"), ("gpt", "assistant")


def load_llava_json(annotations, video_dir=None, check_videos: bool = False, warn: bool = True) -> Loaded:
    """Samples from a LLaVA conversation JSON; `video` paths are relative to `video_dir` (default: the JSON's folder).

    Such files are usually downloaded, so their paths are untrusted: an absolute path, or one that leads out of
    video_dir through `..` or a symlink, is skipped ("path outside its folder").

    Returns `(samples, report)`; every record not turned into a sample is in the report with its reason.
    """
    path = Path(annotations)
    video_dir = Path(video_dir) if video_dir is not None else path.parent
    report = SkipReport(str(path))
    samples = []
    for label, record in _records(path, report):
        record_id = record.get("id") if isinstance(record, dict) else None
        record_id = str(record_id) if isinstance(record_id, (str, int)) and not isinstance(record_id, bool) else label
        problem = first_problem(record, {"video": str, "conversations": list})
        if problem:
            report.add(record_id, *problem)
            continue
        turns, why = _turns(record["conversations"])
        if turns is None:
            report.add(record_id, *why)
            continue
        try:
            video = path_in(video_dir, record["video"])
        except ValueError as err:
            report.add(record_id, OUTSIDE, err)
            continue
        if not usable_video(video, record_id, report):
            continue
        (question, answer), history = turns[-1], turns[:-1]
        meta = {k: v for k, v in record.items() if k not in ("id", "video", "conversations")}
        samples.append(Sample(id=record_id, video=str(video), answer=answer, instruction=question, history=history,
                              meta=meta, source=str(record.get("source", "")) or path.stem))
    return finish(samples, report, check_videos, warn)


def _records(path: Path, report: SkipReport) -> list[tuple[str, object]]:
    if path.suffix == ".jsonl":
        return read_jsonl(path, report)
    records = read_json_list(path, "use a .jsonl name for one record per line")
    report.records = len(records)
    return [(f"record {i}", r) for i, r in enumerate(records)]


def _turns(conversation: list) -> tuple[list[tuple[str, str]] | None, tuple[str, str]]:
    """[(question, answer), ...] from alternating human/gpt messages, or (None, (reason, detail))."""
    if len(conversation) % 2:
        return None, ("conversation does not end with a gpt answer", f"{len(conversation)} messages")
    turns = []
    for i in range(0, len(conversation), 2):
        pair = conversation[i: i + 2]
        for message, roles in zip(pair, (HUMAN, GPT)):
            if not isinstance(message, dict) or message.get("from") not in roles:
                got = message.get("from") if isinstance(message, dict) else type(message).__name__
                return None, ("conversation turns do not alternate human/gpt", f"message {i}: {got!r}")
            if not isinstance(message.get("value"), str) or not message["value"].strip():
                return None, ("empty caption" if roles is GPT else "empty question", f"message {i}")
        question, answer = pair[0]["value"], pair[1]["value"].strip()
        if question.count(VIDEO_PLACEHOLDER) != (1 if i == 0 else 0):
            return None, (f"'{VIDEO_PLACEHOLDER}' must appear once, in the first human turn", f"message {i}")
        question = question.replace(VIDEO_PLACEHOLDER, "").strip()
        if not question:
            return None, ("empty question", f"message {i}")
        turns.append((question, answer))
    if not turns:
        return None, ("empty 'conversations'", "")
    return turns, ("", "")
