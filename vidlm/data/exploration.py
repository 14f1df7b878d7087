"""Look at a dataset before training on it: per-sample video and caption statistics, and the token budget.

    scans = scan_videos(sorted({s.video for s in samples}), full=False)
    stats = dataset_stats(samples, scans, tokenizer=processor.tokenizer)
    budget = token_budget(samples, "llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=8)  # or a family name
    print(budget.summary())  # "120 samples, llava-next-video at 8 frames: 1152 visual + 18–96 text tokens = ..."

The plots are in `vidlm.viewing.plots` (`plot_dataset`, `plot_frame_grid`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass


@dataclass
class DatasetStats:
    """One row per sample: id, source, video, duration (of its window, if it has one), width, height, fps,
    caption_words, caption_tokens (None where unknown: an unreadable video, no tokenizer given)."""

    rows: list[dict]

    def column(self, name: str) -> list:
        """The known values of one column."""
        return [row[name] for row in self.rows if row.get(name) is not None]

    def counts_by_source(self) -> dict[str, int]:
        return dict(Counter(row["source"] or "(none)" for row in self.rows).most_common())

    def table(self) -> str:
        """A Markdown table per source: samples, distinct videos, hours of video, median caption length."""
        lines = ["| source | samples | videos | hours | median words |", "|---|---:|---:|---:|---:|"]
        for source in self.counts_by_source():
            rows = [r for r in self.rows if (r["source"] or "(none)") == source]
            seconds = {r["video"]: r["duration"] for r in rows if r["duration"] is not None and not r["windowed"]}
            seconds_w = sum(r["duration"] for r in rows if r["duration"] is not None and r["windowed"])
            words = sorted(r["caption_words"] for r in rows)
            lines.append(f"| {source} | {len(rows)} | {len({r['video'] for r in rows})} | "
                         f"{(sum(seconds.values()) + seconds_w) / 3600:.2f} | {words[len(words) // 2]} |")
        return "\n".join(lines)


def caption_words(text: str | None) -> int:
    return len(re.findall(r"\S+", text or ""))


def dataset_stats(samples: list, scans=None, tokenizer=None) -> DatasetStats:
    """Per-sample statistics. scans: `vidlm.video.scan.scan_videos` results for the samples' videos (durations,
    resolutions, fps); tokenizer: counts caption tokens (the processor's tokenizer)."""
    by_path = {r.path: r for r in (scans or [])}
    rows = []
    for sample in samples:
        scan = by_path.get(sample.video)
        duration = scan.duration if scan is not None and scan.usable else None
        if duration is not None and sample.window is not None:
            start, end = sample.window
            duration = max(0.0, min(end, duration) - start)
        tokens = None
        if tokenizer is not None and sample.answer:
            tokens = len(tokenizer(sample.answer, add_special_tokens=False)["input_ids"])
        usable = scan is None or scan.usable
        rows.append({"id": sample.id, "source": sample.source, "video": sample.video,
                     "windowed": sample.window is not None, "duration": duration, "width": scan.width if scan and usable else None,
                     "height": scan.height if scan and usable else None, "fps": scan.fps if scan and usable else None,
                     "caption_words": caption_words(sample.answer), "caption_tokens": tokens})
    return DatasetStats(rows)


def token_budget(samples: list, model: str, num_frames: int | None = None, max_length: int | None = None):
    """How many tokens each sample needs with `model`'s processor and family at `num_frames` frames (None: the
    family's default), and which do not fit `max_length` (default: the language model's context, `vidlm.collate.context_length`):
    a `vidlm.collate.TokenBudget`, the same count the training check makes. Loads only the processor and the config,
    no weights; for a family that resizes by the video's size, reads one frame of each video."""
    from transformers import AutoConfig

    from vidlm.collate import context_length, token_budget as count
    from vidlm.data.samples import VideoTextDataset
    from vidlm.families import family_of, model_id
    from vidlm.models import load_processor

    model = model_id(model)
    processor = load_processor(model)
    config = AutoConfig.from_pretrained(model)
    family = family_of(config)
    if max_length is None:
        max_length = context_length(config)
    dataset = VideoTextDataset(samples, processor, family, num_frames)
    return count(processor, family, dataset.num_frames, [dataset.prompt(s) for s in samples], max_length,
                 ids=[s.id for s in samples], video_sizes=dataset.video_sizes())


def sample_frames(samples: list, num_frames: int = 4, size: int = 96) -> list[tuple[object, object]]:
    """(sample, VideoClip or the error message) for each sample: frames from its window, shorter side `size` px."""
    from vidlm.video.decode import VideoDecodeError, load_video

    out = []
    for sample in samples:
        try:
            out.append((sample, load_video(sample.video, num_frames=num_frames, window=sample.window, size=size)))
        except (VideoDecodeError, ValueError) as err:
            out.append((sample, str(err)))
    return out


def finite_window(window) -> str:
    """A window for a label: `1.0–2.5 s`, `1.0 s–end`."""
    if window is None:
        return "whole video"
    start, end = window
    return f"{start:.1f} s–end" if math.isinf(end) else f"{start:.1f}–{end:.1f} s"
