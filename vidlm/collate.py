"""From (frames, prompt) to model inputs: labels only on answers, padded batches, and a token-budget check.

Training features are built by `encode`: the processor expands `<video>` into its visual tokens; the supervised
character spans of the `Prompt` are mapped onto tokens through the tokenizer's offsets on the unexpanded text, and
the two tokenisations are checked to agree. Prompt, video and padding tokens get label -100; answers and their EOS
keep their ids. Nothing is ever truncated (truncation would cut visual tokens), so the budget is checked up front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidlm.prompts import Prompt

IGNORE_INDEX = -100


class TokenBudgetError(ValueError):
    """Samples do not fit the model's maximum sequence length."""


def encode(processor, prompt: Prompt, frames: np.ndarray) -> dict:
    """Processor features for one clip: `input_ids`, `attention_mask`, `labels` (1-D) and `pixel_values_videos`."""
    tokenizer = processor.tokenizer
    video_id = tokenizer.convert_tokens_to_ids(processor.video_token)
    plain = tokenizer(prompt.text, return_offsets_mapping=True)
    if plain["input_ids"].count(video_id) != 1:
        raise ValueError(f"The prompt must contain the video placeholder {processor.video_token!r} exactly once: "
                         f"{prompt.text!r}")
    features = processor(text=[prompt.text], videos=[frames], return_tensors="pt")
    ids = features["input_ids"][0]
    num_visual = int((ids == video_id).sum())
    expanded, labels = [], []
    for token, (start, end) in zip(plain["input_ids"], plain["offset_mapping"]):
        if token == video_id:
            expanded += [video_id] * num_visual
            labels += [IGNORE_INDEX] * num_visual
            continue
        supervised = end > start and any(start < b and end > a for a, b in prompt.supervised)
        expanded.append(token)
        labels.append(token if supervised else IGNORE_INDEX)
    if expanded != ids.tolist():
        raise RuntimeError("The processor tokenised the prompt differently from its tokenizer, so labels cannot be "
                           f"aligned; prompt: {prompt.text!r}")
    if prompt.supervised and all(label == IGNORE_INDEX for label in labels):
        raise RuntimeError(f"No token of the answer was supervised; prompt: {prompt.text!r}")
    import torch

    return {
        "input_ids": ids,
        "attention_mask": features["attention_mask"][0],
        "labels": torch.tensor(labels, dtype=torch.long),
        "pixel_values_videos": features["pixel_values_videos"][0],
    }


@dataclass
class TrainCollator:
    """Right-pads a list of `encode` features to the longest in the batch (dynamic padding)."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)

        def pad(key, value):
            rows = [torch.nn.functional.pad(f[key], (0, width - len(f[key])), value=value) for f in features]
            return torch.stack(rows)

        return {
            "input_ids": pad("input_ids", self.pad_token_id),
            "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", IGNORE_INDEX),
            "pixel_values_videos": torch.stack([f["pixel_values_videos"] for f in features]),
        }


def generation_batch(processor, prompts: list[str], videos: list[np.ndarray]):
    """Left-padded processor inputs for batched generation (so every row's next token sits at the same place)."""
    if len(prompts) != len(videos):
        raise ValueError(f"{len(prompts)} prompts for {len(videos)} videos")
    return processor(text=list(prompts), videos=list(videos), padding=True, padding_side="left",
                     return_tensors="pt")


def show_supervised(batch: dict, tokenizer, full: bool = False) -> list[str]:
    """What each row of a training batch is trained to produce.

    By default only the supervised tokens, decoded. With `full=True`, the whole sequence with supervised parts in
    `[[...]]`, runs of visual tokens collapsed to `<video>×N` and padding dropped.
    """
    rows = []
    for ids, labels, mask in zip(batch["input_ids"].tolist(), batch["labels"].tolist(),
                                 batch["attention_mask"].tolist()):
        if not full:
            rows.append(tokenizer.decode([t for t, l in zip(ids, labels) if l != IGNORE_INDEX]))
            continue
        parts = []  # runs of (supervised, [tokens]), padding dropped
        for token, label, keep in zip(ids, labels, mask):
            if not keep:
                continue
            supervised = label != IGNORE_INDEX
            if parts and parts[-1][0] == supervised:
                parts[-1][1].append(token)
            else:
                parts.append((supervised, [token]))
        rows.append(" ".join(
            f"[[{_readable(tokenizer, toks)}]]" if sup else _readable(tokenizer, toks) for sup, toks in parts
        ))
    return rows


def _readable(tokenizer, tokens: list[int]) -> str:
    video_id = tokenizer.convert_tokens_to_ids(getattr(tokenizer, "video_token", None) or "<video>")
    out, i = [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and (tokens[j] == video_id) == (tokens[i] == video_id):
            j += 1
        chunk = tokens[i:j]
        out.append(f"<video>×{len(chunk)}" if tokens[i] == video_id else tokenizer.decode(chunk))
        i = j
    return " ".join(out)


@dataclass
class TokenBudget:
    """How the sequence length of each sample splits into visual and text tokens."""

    visual_tokens: int
    text_tokens: list[int]
    max_length: int

    @property
    def longest(self) -> int:
        return self.visual_tokens + max(self.text_tokens, default=0)


def check_token_budget(processor, model_config, family, num_frames: int, prompts: list[Prompt],
                       max_length: int | None = None, ids: list[str] | None = None) -> TokenBudget:
    """Raise `TokenBudgetError` unless every prompt fits: frames × tokens per frame + text ≤ max_length.

    `max_length` defaults to the language model's `max_position_embeddings`. The message says which samples do not
    fit and what to change (fewer frames, a larger max_length, shorter text).
    """
    if max_length is None:
        max_length = model_config.text_config.max_position_embeddings
    per_frame = family.tokens_per_frame(model_config)
    visual = num_frames * per_frame
    # The placeholder counts as one token of the text; the visual tokens replace it.
    text = [len(processor.tokenizer(p.text)["input_ids"]) - 1 for p in prompts]
    budget = TokenBudget(visual, text, max_length)
    over = [i for i, n in enumerate(text) if visual + n > max_length]
    if over:
        names = [ids[i] if ids else str(i) for i in over]
        worst = budget.longest
        fit_frames = (max_length - max(text)) // per_frame
        raise TokenBudgetError(
            f"{len(over)} of {len(prompts)} samples do not fit max_length={max_length}: {num_frames} frames × "
            f"{per_frame} tokens per frame = {visual} visual tokens + up to {max(text)} text tokens = {worst}. "
            f"Samples: {names[:10]}{' …' if len(names) > 10 else ''}. Use num_frames ≤ {max(fit_frames, 0)}, raise "
            f"max_length to ≥ {worst}, or shorten those samples' text. (vidlm never truncates: truncation would cut "
            "visual tokens or leave no answer token to learn from.)"
        )
    return budget
