"""From (frames, prompt) to model inputs: labels only on answers, padded batches, and a token-budget check.

Training features are built by `encode`, the one place labels are made: the processor expands `<video>` into its
visual tokens, and the tokenizer's ids of the unexpanded text are checked to agree with it. Labels are decided on
token boundaries: every token after an answer's generation prompt, through the answer's EOS, keeps its id — the
separator token included (a real SentencePiece tokenizer writes `ASSISTANT: 1999` as ':' '▁' '1' …, and the lone
'▁' is what the model must produce first) — and everything else (prompts, user turns, video, padding) gets -100.
Nothing is ever truncated (truncation would cut visual tokens), so the budget is checked up front.
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
    plain = tokenizer(prompt.text)["input_ids"]
    if plain.count(video_id) != 1:
        raise ValueError(f"The prompt must contain the video placeholder {processor.video_token!r} exactly once: "
                         f"{prompt.text!r}")
    supervised = [False] * len(plain)
    for start, end in prompt.supervised:
        first = _prefix_length(tokenizer, prompt.text, start, plain)  # the generation prompt's tokens
        last = _prefix_length(tokenizer, prompt.text, end, plain)  # ... through the answer's EOS
        supervised[first:last] = [True] * (last - first)
    features = processor(text=[prompt.text], videos=[frames], return_tensors="pt")
    ids = features["input_ids"][0]
    num_visual = int((ids == video_id).sum())
    expanded, labels = [], []
    for token, keep in zip(plain, supervised):
        if token == video_id:
            expanded += [video_id] * num_visual
            labels += [IGNORE_INDEX] * num_visual
            continue
        expanded.append(token)
        labels.append(token if keep else IGNORE_INDEX)
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
