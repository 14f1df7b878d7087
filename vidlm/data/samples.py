"""Samples (a video and its conversation) and a torch Dataset that turns them into training features.

The spine reads a plain CSV (`path`, `caption`: `read_captions_csv`); richer dataset formats (ShareGPT4Video,
Shot2Story, LLaVA conversation JSON: `vidlm.data.sources`) build the same `Sample`, with a time window where a caption
covers only part of the video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidlm.prompts import DEFAULT_PROMPT


@dataclass
class Sample:
    """One training or evaluation example: a video, an instruction, its answer and earlier turns.

    window: (start_s, end_s) when the answer describes only that part of the video (a keyframe interval, a shot);
    None for the whole video. `end_s` may be `math.inf`: up to the end of the video.
    source: where the sample comes from (e.g. "mixkit", "shot2story"), for per-source counts and splits.
    """

    id: str
    video: str
    answer: str | None
    instruction: str = DEFAULT_PROMPT
    history: list[tuple[str, str]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    window: tuple[float, float] | None = None
    source: str = ""

    @property
    def turns(self) -> list[tuple[str, str | None]]:
        """The whole conversation as (question, answer) pairs, this sample's own turn last."""
        return [*self.history, (self.instruction, self.answer)]


def read_captions_csv(path, instruction: str = DEFAULT_PROMPT, video_dir=None) -> list[Sample]:
    """Samples from a CSV with columns `path` (relative to `video_dir`, default the CSV's folder, or absolute) and
    `caption` (or Open-Sora's `text`).

    Other columns are kept in `Sample.meta`. Strict: a missing column, an empty or header-only file, an empty path or
    caption, a video that is not a file, a relative path leading out of its folder or a line that is not UTF-8
    raises one `ValueError` naming the CSV and every bad line (`vidlm.data.sources.load_captions_csv` skips them
    instead).
    """
    from vidlm.data.sources.captions_csv import load_captions_csv

    return load_captions_csv(path, instruction, video_dir=video_dir, strict=True, warn=False).samples


class VideoTextDataset:
    """A map-style torch Dataset of `encode` features: decodes each video and builds its labelled prompt.

    Frames are sampled by the family's policy (`Family.sampling`: uniform, or by fps up to `num_frames`) from the
    sample's `window` when it has one, else from the whole video; `num_frames=None` means the family's default.
    Decoding happens in `__getitem__`, so a `DataLoader(num_workers=N)` decodes in N worker processes.
    cache: keep features in memory after the first epoch (small data, e.g. the demo).
    feature_cache: a folder (or `vidlm.feature_cache.FeatureCache`) keeping features on disk across runs; an entry is
    used only while the processor, frame count, prompt and video file are the ones it was made from, and only when
    its keys, dtypes and shapes are what this dataset makes (`vidlm.feature_cache.entry_problem`); else recomputed.
    """

    def __init__(self, samples: list[Sample], processor, family, num_frames: int | None = None, cache: bool = False,
                 feature_cache=None):
        self.samples, self.processor, self.family = samples, processor, family
        self.num_frames = family.sampling.frames(num_frames)
        self._cache = {} if cache else None
        self.feature_cache = None
        if feature_cache is not None:
            from vidlm.feature_cache import FeatureCache, processor_fingerprint

            if not isinstance(feature_cache, FeatureCache):
                feature_cache = FeatureCache(feature_cache)
            self.feature_cache = feature_cache
            self._processor_key = processor_fingerprint(processor)
            self._entry_keys = None

    def __len__(self) -> int:
        return len(self.samples)

    def video_sizes(self) -> list[tuple[int, int]] | None:
        """(height, width) of each sample's frames as decoded (upright), for the token budget of a family that
        resizes by the video's own size; None for fixed-size families, whose count does not depend on it."""
        if self.family.sampling.max_pixels is None:
            return None
        from vidlm.video.decode import load_video

        sizes = {}
        for sample in self.samples:
            if sample.video not in sizes:
                sizes[sample.video] = load_video(sample.video, indices=[0]).frames.shape[1:3]
        return [tuple(int(n) for n in sizes[s.video]) for s in self.samples]

    def _check_entry(self, features: dict) -> str | None:
        from vidlm.feature_cache import entry_problem

        if self._entry_keys is None:
            self._entry_keys = self._encoded_keys()
        return entry_problem(features, self.num_frames, len(self.processor.tokenizer), self._entry_keys,
                             self.family.sampling)

    def _encoded_keys(self) -> set[str]:
        """The inputs `encode` makes for this processor: its tokens and what the processor returns for a blank clip
        (Qwen's patches and grid, SmolVLM's pixel mask …), without decoding any video."""
        import numpy as np

        from vidlm.collate import video_inputs

        blank = np.zeros((2, 64, 64, 3), dtype=np.uint8)
        text = self.processor.video_token
        made = self.processor(text=[text], **video_inputs(self.processor, self.family, [blank]), return_tensors="pt")
        return {"labels", *made}

    def _key(self, i: int) -> str:
        """The feature cache key of sample i."""
        from vidlm.feature_cache import feature_key

        sample = self.samples[i]
        return feature_key(self._processor_key, self.num_frames, self.prompt(sample), sample.video, sample.window,
                           sampling=self.family.sampling.record(self.num_frames))

    def prompt(self, sample: Sample):
        from vidlm.prompts import format_prompt

        return format_prompt(self.family, sample.instruction, sample.answer, sample.history, self.processor)

    def __getitem__(self, i: int) -> dict:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        from vidlm.collate import encode

        sample = self.samples[i]
        prompt = self.prompt(sample)
        key = None
        if self.feature_cache is not None:
            key = self._key(i)
            features = self.feature_cache.get(key, self._check_entry)
            if features is not None:
                if self._cache is not None:
                    self._cache[i] = features
                return features
        clip = self.family.sampling.load(sample.video, self.num_frames, window=sample.window)
        features = encode(self.processor, prompt, clip, self.family)
        if key is not None:
            self.feature_cache.put(key, features)
        if self._cache is not None:
            self._cache[i] = features
        return features
