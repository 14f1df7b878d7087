"""Samples (a video and its conversation) and a torch Dataset that turns them into training features.

The spine reads a plain CSV (`path`, `caption`); richer dataset formats build the same `Sample`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from vidlm.synthetic import PROMPT


@dataclass
class Sample:
    """One training or evaluation example: a video, an instruction, its answer and earlier turns."""

    id: str
    video: str
    answer: str | None
    instruction: str = PROMPT
    history: list[tuple[str, str]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def read_captions_csv(path, instruction: str = PROMPT) -> list[Sample]:
    """Samples from a CSV with columns `path` (relative to the CSV's folder, or absolute) and `caption`.

    Other columns are kept in `Sample.meta`. A missing column, an empty path or caption, or a video file that does
    not exist raises `ValueError` naming the CSV row.
    """
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "caption"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        samples, problems = [], []
        for row_number, row in enumerate(reader, start=2):  # row 1 is the header
            video, caption = (row.get("path") or "").strip(), (row.get("caption") or "").strip()
            video_path = Path(video) if Path(video).is_absolute() else path.parent / video
            if not video or not caption:
                problems.append(f"row {row_number}: empty {'path' if not video else 'caption'}")
            elif not video_path.is_file():
                problems.append(f"row {row_number}: video not found: {video_path}")
            else:
                meta = {k: v for k, v in row.items() if k not in ("path", "caption")}
                samples.append(Sample(id=video_path.stem, video=str(video_path), answer=caption,
                                      instruction=instruction, meta=meta))
    if problems:
        raise ValueError(f"{path}: {len(problems)} bad row(s) — fix or remove them:\n  " + "\n  ".join(problems))
    return samples


class VideoTextDataset:
    """A map-style torch Dataset of `encode` features: decodes each video and builds its labelled prompt.

    cache: keep features in memory after the first epoch (small data, e.g. the demo).
    """

    def __init__(self, samples: list[Sample], processor, family, num_frames: int, cache: bool = False):
        self.samples, self.processor, self.family, self.num_frames = samples, processor, family, num_frames
        self._cache = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def prompt(self, sample: Sample):
        from vidlm.prompts import format_prompt

        return format_prompt(self.family, sample.instruction, sample.answer, sample.history, self.processor)

    def __getitem__(self, i: int) -> dict:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        from vidlm.collate import encode
        from vidlm.video import load_video

        sample = self.samples[i]
        clip = load_video(sample.video, num_frames=self.num_frames)
        features = encode(self.processor, self.prompt(sample), clip.frames)
        if self._cache is not None:
            self._cache[i] = features
        return features
