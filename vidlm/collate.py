"""From (frames, prompt) to model inputs: labels only on answers, padded batches, and a token-budget check.

Training features are built by `encode`, the one place labels are made: the processor expands `<video>` into its
visual tokens, and the tokenizer's ids of the unexpanded text are checked to agree with it. Labels are decided on
token boundaries: every token after an answer's generation prompt, through the answer's EOS, keeps its id — the
separator token included (a real SentencePiece tokenizer writes `ASSISTANT: 1999` as ':' '▁' '1' …, and the lone
'▁' is what the model must produce first) — and everything else (prompts, user turns, video, padding) gets -100.
Nothing is ever truncated (truncation would cut visual tokens), so the budget is checked up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidlm.prompts import Prompt

IGNORE_INDEX = -100


class TokenBudgetError(ValueError):
    """Samples do not fit the model's maximum sequence length."""


def video_inputs(processor, family, videos: list) -> dict:
    """The processor's video arguments for `videos` (`vidlm.video.decode.VideoClip`s or uint8 arrays [T, H, W, 3]).

    Frames are already sampled by the family's policy, so the processor must not sample again; families sampled by
    fps also get each clip's timing (Qwen2.5-VL's time positions, Qwen3-VL's `<t seconds>` in the prompt). A bare
    array is taken as frames sampled at the family's fps from time 0.
    """
    frames = [getattr(v, "frames", v) for v in videos]
    if family is None or family.sampling.fps is None:
        return {"videos": frames}
    return {"videos": frames, "video_metadata": [_metadata(v, family.sampling.fps) for v in videos],
            "do_sample_frames": False}


def _metadata(video, fps: float):
    from transformers.video_utils import VideoMetadata

    count = len(getattr(video, "frames", video))
    if not hasattr(video, "timestamps"):
        return VideoMetadata(total_num_frames=count, fps=fps, frames_indices=list(range(count)))
    # transformers reads the sampled rate as len(indices) / total_num_frames * fps: give it the clip's own spacing.
    spacing = float(np.diff(video.timestamps).mean()) if count > 1 else 1 / fps
    total = max(count, round(count * video.fps * spacing))
    return VideoMetadata(total_num_frames=total, fps=video.fps, frames_indices=[int(i) for i in video.indices])


def encode(processor, prompt: Prompt, video, family=None) -> dict:
    """Processor features for one clip: `input_ids`, `attention_mask`, `labels` (1-D) and the visual inputs.

    video: a `VideoClip` or frames [T, H, W, 3]. family: how the processor takes the clip (`video_inputs`) and which
    inputs a batch packs (`Family.packed_inputs`, kept whole here); None for a fixed-frame family.
    Everything the processor puts in place of the video placeholder (visual tokens, and any frame timestamps it
    writes) is unsupervised; the text before and after it must be exactly the tokenizer's ids of the prompt.
    """
    tokenizer = processor.tokenizer
    video_id = tokenizer.convert_tokens_to_ids(processor.video_token)
    plain = tokenizer(prompt.text)["input_ids"]
    if plain.count(video_id) != 1:
        raise ValueError(f"The prompt must contain the video placeholder {processor.video_token!r} exactly once: "
                         f"{prompt.text!r}")
    supervised = [False] * len(plain)
    for start, end in prompt.supervised:
        first = _prefix_length(tokenizer, prompt.text, start, plain)  # the generation prompt's tokens
        last = _prefix_length(tokenizer, prompt.text, end, plain)  # ... through the answer's EOS
        supervised[first:last] = [True] * (last - first)
    features = processor(text=[prompt.text], **video_inputs(processor, family, [video]), return_tensors="pt")
    ids = features["input_ids"][0]
    at = plain.index(video_id)
    head, tail = plain[:at], plain[at + 1:]
    listed = ids.tolist()
    # Where the processor writes text in place of the placeholder (SmolVLM's `You are provided …`), a byte-level BPE
    # may merge it with the neighbouring text (`: ` + `You` → `:`, ` You`): the text's tokens then agree with the
    # processor's except for at most BOUNDARY tokens beside the video, which must not be supervised.
    same_head = _common_length(listed, head)
    same_tail = _common_length(listed[::-1], tail[::-1])
    unmatched = [*supervised[same_head:at], *supervised[at + 1:at + 1 + len(tail) - same_tail]]
    if (len(listed) - same_head - same_tail < 1 or len(head) - same_head > BOUNDARY
            or len(tail) - same_tail > BOUNDARY or any(unmatched)):
        raise RuntimeError("The processor tokenised the prompt differently from its tokenizer, so labels cannot be "
                           f"aligned; prompt: {prompt.text!r}")
    num_visual = len(listed) - same_head - same_tail
    keep = supervised[:same_head] + [False] * num_visual + supervised[len(plain) - same_tail:]
    labels = [token if kept else IGNORE_INDEX for token, kept in zip(listed, keep)]
    if prompt.supervised and all(label == IGNORE_INDEX for label in labels):
        raise RuntimeError(f"No token of the answer was supervised; prompt: {prompt.text!r}")
    import torch

    packed = family.packed_inputs if family is not None else ()
    out = {"input_ids": ids, "attention_mask": features["attention_mask"][0],
           "labels": torch.tensor(labels, dtype=torch.long)}
    for key, value in features.items():
        if key in out:
            continue
        value = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        out[key] = value if key in packed else value[0]
    return out


BOUNDARY = 2  # tokens beside the video that may merge with the processor's own text


def _common_length(a: list[int], b: list[int]) -> int:
    """How many leading items of `b` equal those of `a`."""
    n = 0
    while n < len(b) and n < len(a) and a[n] == b[n]:
        n += 1
    return n


def _prefix_length(tokenizer, text: str, cut: int, ids: list[int]) -> int:
    """How many of `ids` (the tokens of `text`) are the tokens of `text[:cut]`; raises if those are not a prefix."""
    head = tokenizer(text[:cut])["input_ids"]
    if ids[:len(head)] != head:
        raise ValueError(
            f"The text up to character {cut} (an answer's generation prompt or its EOS), …{text[:cut][-40:]!r}, does "
            f"not tokenise as a prefix of the training text {text[cut:cut + 40]!r}…, so the tokens the model must "
            "produce there are not defined; use a prompt format whose generation prompt ends where a token ends (the "
            "family's documented format: set `processor.chat_template = None`)."
        )
    return len(head)


# Per-token inputs a batch pads on the right (with the value given); every other input is per clip.
TOKEN_INPUTS = {"input_ids": None, "attention_mask": 0, "labels": IGNORE_INDEX, "mm_token_type_ids": 0}
# Per-clip inputs whose frames a batch may pad with all-zero frames: SmolVLM takes frames as images and drops every
# all-zero one (`real_images_inds`), as its own processor pads a batch (a real normalised frame is never all zero).
ZERO_PADDED_FRAMES = ("pixel_values", "pixel_attention_mask")


@dataclass
class TrainCollator:
    """Right-pads a list of `encode` features to the longest in the batch (dynamic padding).

    Per-clip inputs are stacked, one row per sample, except `packed` ones (`Family.packed_inputs`: Qwen's patches of
    every clip in one tensor, with `video_grid_thw` saying which rows are whose), which are concatenated, so the
    samples of one batch may have different frame counts and resolutions. SmolVLM's frames (`ZERO_PADDED_FRAMES`)
    are padded to the batch's longest clip with all-zero frames, which the model drops; any other per-clip input of
    different shapes (LLaVA-OneVision's frame counts) is refused naming the samples.
    """

    pad_token_id: int
    packed: tuple[str, ...] = ()

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if key in TOKEN_INPUTS:
                pad = self.pad_token_id if TOKEN_INPUTS[key] is None else TOKEN_INPUTS[key]
                batch[key] = torch.stack([torch.nn.functional.pad(v, (0, width - len(v)), value=pad)
                                          for v in values])
            elif key in self.packed:
                batch[key] = torch.cat(values)
            elif key in ZERO_PADDED_FRAMES:
                frames = max(len(v) for v in values)
                # Only shorter clips are padded: a clip's frames are copied once, into the batch (SmolVLM's are big).
                batch[key] = torch.stack([v if len(v) == frames else
                                          torch.cat([v, v.new_zeros((frames - len(v), *v.shape[1:]))])
                                          for v in values])
            else:
                _check_same_frames(key, values)
                batch[key] = torch.stack(values)
        return batch


def _check_same_frames(key: str, values: list) -> None:
    """Refuse, by sample, a batch whose clips a model cannot take together (LLaVA-OneVision: one [frames, …] tensor
    per sample, every frame a fixed number of tokens)."""
    shapes = [tuple(v.shape) for v in values]
    if len(set(shapes)) == 1:
        return
    odd = next(i for i, shape in enumerate(shapes) if shape != shapes[0])
    if shapes[odd][1:] == shapes[0][1:] and len(shapes[0]) > 1:
        raise ValueError(f"Clips of one batch must have the same number of frames for this model: sample {odd} has "
                         f"{shapes[odd][0]} frames ({key}), sample 0 has {shapes[0][0]}; use batch_size 1 or a fixed "
                         "frame count (uniform sampling, num_frames=N, gives every clip N frames)")
    raise ValueError(f"Samples of one batch have different {key} shapes: sample {odd} {shapes[odd]}, sample 0 "
                     f"{shapes[0]}; use batch_size 1 or one frame count and size for every clip")


def generation_batch(processor, prompts: list[str], videos: list, family=None):
    """Left-padded processor inputs for batched generation (so every row's next token sits at the same place).

    videos: `VideoClip`s or frame arrays, one per prompt; family: as for `encode`.
    """
    if len(prompts) != len(videos):
        raise ValueError(f"{len(prompts)} prompts for {len(videos)} videos")
    return processor(text=list(prompts), **video_inputs(processor, family, list(videos)), padding=True,
                     padding_side="left", return_tensors="pt")


def show_supervised(batch: dict, tokenizer, full: bool = False) -> list[str]:
    """What each row of a training batch is trained to produce.

    By default the supervised text of each row: its supervised tokens, each run decoded as it reads in the row, so a
    separator token shows as the leading space it is (`' 1999 was the year.</s>'`). With `full=True`, the whole
    row with the supervised runs in `[[...]]` (`... ASSISTANT:[[ 1999 was the year.</s>]]`), runs of visual tokens
    collapsed to `<video>×N` and padding dropped.
    """
    video_id = tokenizer.convert_tokens_to_ids(getattr(tokenizer, "video_token", None) or "<video>")
    rows = []
    for ids, labels, mask in zip(batch["input_ids"].tolist(), batch["labels"].tolist(),
                                 batch["attention_mask"].tolist()):
        tokens = [t for t, keep in zip(ids, mask) if keep]
        kinds = ["video" if t == video_id else "supervised" if label != IGNORE_INDEX else "prompt"
                 for t, label, keep in zip(ids, labels, mask) if keep]
        parts, start = [], 0
        for end in range(1, len(tokens) + 1):
            if end < len(tokens) and kinds[end] == kinds[start]:
                continue
            text = _text_of(tokenizer, tokens, start, end)
            if kinds[start] == "video":
                text = text[:len(text) - len(text.lstrip())] + f"<video>×{end - start}"
            if kinds[start] == "supervised":
                parts.append(f"[[{text}]]" if full else text)
            elif full:
                parts.append(text)
            start = end
        rows.append("".join(parts))
    return rows


def _text_of(tokenizer, tokens: list[int], start: int, end: int) -> str:
    """The text tokens[start:end] add to the decoded row. Decoded alone, a run would lose a leading separator
    (SentencePiece decoders drop the first token's space), so it is decoded after what precedes it."""
    before, upto = tokenizer.decode(tokens[:start]), tokenizer.decode(tokens[:end])
    return upto[len(before):] if upto.startswith(before) else tokenizer.decode(tokens[start:end])


def visual_tokens(processor, family, num_frames: int, height: int, width: int) -> int:
    """Tokens a clip of `num_frames` frames of height × width takes in the sequence, as the processor expands it.

    Asked of the processor itself (it is run on a blank clip of that shape), so dynamic resolution, pooling, temporal
    patch merging and frame timestamps are counted as the model will see them. Counted in place of the one
    placeholder token the prompt text has: a sample's length is its text tokens − 1 + this.
    """
    from transformers.utils import logging as hf_logging

    blank = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    text = processor.video_token
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a count past the tokenizer's model_max_length is what a budget check is for
    try:
        # As tensors: SmolVLM's processor reads the frame count from its pixel tensor's shape.
        ids = processor(text=[text], **video_inputs(processor, family, [blank]), return_tensors="pt")["input_ids"][0]
    finally:
        hf_logging.set_verbosity(verbosity)
    return len(ids) - len(processor.tokenizer(text)["input_ids"]) + 1


@dataclass
class TokenBudget:
    """How the sequence length of each sample splits into visual and text tokens, against `max_length`.

    visual_tokens[i] + text_tokens[i] is sample i's exact sequence length (its visual count asked of the processor
    for its clip's shape); the training check and the exploration notebook both use this one type.
    """

    ids: list[str]
    visual_tokens: list[int]
    text_tokens: list[int]
    max_length: int
    family: str = ""
    num_frames: int = 0
    tokenizer: object = field(default=None, repr=False)

    @property
    def totals(self) -> list[int]:
        return [v + t for v, t in zip(self.visual_tokens, self.text_tokens)]

    @property
    def longest(self) -> int:
        return max(self.totals, default=0)

    def longest_sample(self) -> tuple[str, int, int]:
        """The longest sample's id, visual and text tokens (("", 0, 0) without samples): what one training step of
        it holds, for the memory estimate (the per-column maxima may come from different samples)."""
        if not self.ids:
            return "", 0, 0
        i = self.totals.index(self.longest)
        return self.ids[i], self.visual_tokens[i], self.text_tokens[i]

    @property
    def over(self) -> list[str]:
        """The ids of the samples that do not fit `max_length`."""
        return [i for i, total in zip(self.ids, self.totals) if total > self.max_length]

    def fitting_frames(self) -> int:
        """The most frames at which every sample fits, assuming visual tokens grow in proportion to frames."""
        per_frame = max(v / max(self.num_frames, 1) for v in self.visual_tokens) if self.visual_tokens else 1
        return max(int((self.max_length - max(self.text_tokens, default=0)) // max(per_frame, 1e-9)), 0)

    def summary(self) -> str:
        """`120 samples, qwen2.5-vl at 16 frames: 576–1152 visual + 18–96 text tokens = up to 1248; 3 do not fit
        max_length=1024 (e.g. [...]); every sample fits with num_frames ≤ 12`."""
        if not self.ids:
            return "no samples"

        def span(values):
            return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"

        line = (f"{len(self.ids)} samples, {self.family} at {self.num_frames} frames: {span(self.visual_tokens)} "
                f"visual + {span(self.text_tokens)} text tokens = up to {self.longest}; {len(self.over)} do not fit "
                f"max_length={self.max_length}")
        if self.over:
            line += f" (e.g. {self.over[:5]}); every sample fits with num_frames ≤ {self.fitting_frames()}"
        return line


def token_budget(processor, family, num_frames: int, prompts: list[Prompt], max_length: int,
                 ids: list[str] | None = None, video_sizes: list[tuple[int, int]] | None = None) -> TokenBudget:
    """Each prompt's sequence length with a clip of `num_frames` frames: its text tokens + the processor's count of
    visual tokens for its video's (height, width) (`video_sizes`, one per prompt; only dynamic-resolution families
    need them — fixed-size families are counted at any size)."""
    if video_sizes is None:
        if family.sampling.max_pixels is not None:
            raise ValueError(f"{family.name} resizes each video by its own size: pass video_sizes (height, width) "
                             "per sample to count its visual tokens")
        video_sizes = [(64, 64)] * len(prompts)
    if len(video_sizes) != len(prompts):
        raise ValueError(f"{len(video_sizes)} video sizes for {len(prompts)} prompts")
    # The placeholder counts as one token of the text; the visual tokens replace it.
    text = [len(processor.tokenizer(p.text)["input_ids"]) - 1 for p in prompts]
    counts = {size: visual_tokens(processor, family, num_frames, *size) for size in set(map(tuple, video_sizes))}
    visual = [counts[tuple(size)] for size in video_sizes]
    return TokenBudget(list(ids) if ids else [str(i) for i in range(len(prompts))], visual, text, max_length,
                       family.name, num_frames, processor.tokenizer)


def context_length(model_config) -> int:
    """The longest sequence (prompt, visual tokens and generated tokens together) the language model handles: its
    `max_position_embeddings`, times the factor of a rope scaling that stretches positions (linear, dynamic NTK,
    YaRN, LongRoPE) — LLaVA-NeXT-Video-7B's `linear` ×2.5 makes its 4,096 positions 10,240. Qwen's `mrope` and
    `default` add none."""
    text = getattr(model_config, "text_config", None) or model_config
    positions = int(text.max_position_embeddings)
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None) or {}
    kind = rope.get("rope_type", rope.get("type"))
    factor = rope.get("factor")
    if kind in ("linear", "dynamic", "yarn", "longrope") and factor and factor > 1:
        base = rope.get("original_max_position_embeddings") or positions
        return max(positions, int(base * factor))
    return positions


def check_token_budget(processor, model_config, family, num_frames: int, prompts: list[Prompt],
                       max_length: int | None = None, ids: list[str] | None = None,
                       video_sizes: list[tuple[int, int]] | None = None) -> TokenBudget:
    """Raise `TokenBudgetError` unless every prompt fits: the processor's visual tokens + text ≤ max_length.

    `max_length` defaults to the language model's context (`context_length`: its positions, rope scaling
    included). The message says which samples do not
    fit and what to change (fewer frames, a larger max_length, shorter text).
    """
    if max_length is None:
        max_length = context_length(model_config)
    budget = token_budget(processor, family, num_frames, prompts, max_length, ids, video_sizes)
    if budget.over:
        worst = budget.totals.index(budget.longest)
        names = budget.over
        raise TokenBudgetError(
            f"{len(names)} of {len(prompts)} samples do not fit max_length={max_length}: at {num_frames} frames the "
            f"longest ({budget.ids[worst]}) is {budget.visual_tokens[worst]} visual tokens + "
            f"{budget.text_tokens[worst]} text tokens = {budget.longest}. Samples: {names[:10]}"
            f"{' …' if len(names) > 10 else ''}. Use num_frames ≤ {budget.fitting_frames()}, raise max_length to "
            f"≥ {budget.longest}, or shorten those samples' text. (vidlm never truncates: truncation would cut "
            "visual tokens or leave no answer token to learn from.)"
        )
    return budget
