"""Captioning's token budget, checked before any weight loads: every clip's visual tokens + its prompt + the tokens
to generate must fit the model's context, or the run stops with a message naming the clip and the setting to change.

Training checks its own budget (`vidlm.collate.check_token_budget`, against `max_length`); captioning generates
after the prompt, so its budget is the context (`context_length`) less `max_new_tokens`. Visual tokens are asked of
the processor (`vidlm.collate.visual_tokens`); only families that resize each video by its own size (Qwen) need each
clip's frame size, read from its first frame; the others count one blank clip.
"""

from __future__ import annotations

from vidlm.collate import TokenBudget, TokenBudgetError, context_length, token_budget
from vidlm.prompts import Prompt


# Tokens kept free for the prompt and a caption when a checkpoint's context decides the default frame count
ROOM = 256


def default_frames(family, model_config) -> int:
    """The frames a clip gets when num_frames is not set: the family's trained count, or the most that leave ROOM
    tokens of this checkpoint's context where those do not (LLaVA-NeXT-Video-34B: 4,096 positions, 144 tokens a
    frame, so 26 of the trained 32). Families with a pixel budget (Qwen) keep their frame cap: their count depends
    on each clip's size, and their contexts (32K and up) hold the cap at the budget."""
    from vidlm.memory import count_visual_tokens

    frames = family.sampling.num_frames
    if family.sampling.max_pixels is not None:
        return frames
    context = context_length(model_config)
    while frames > 1 and count_visual_tokens(model_config, frames) + ROOM > context:
        frames -= 1
    return frames


def check_generation_budget(processor, model_config, family, num_frames: int, prompts: list[Prompt],
                            max_new_tokens: int, ids: list[str] | None = None,
                            video_sizes: list[tuple[int, int]] | None = None) -> TokenBudget:
    """Raise `TokenBudgetError` unless every clip fits the context with `max_new_tokens` to spare."""
    context = context_length(model_config)
    budget = token_budget(processor, family, num_frames, prompts, context - max_new_tokens, ids, video_sizes)
    if not budget.over:
        return budget
    worst = budget.totals.index(budget.longest)
    names = budget.over
    fixes = []
    frames = budget.fitting_frames()
    if frames:
        fixes.append(f"num_frames ≤ {frames} (--num-frames {frames})")
    room = context - budget.longest
    if room > 0:
        fixes.append(f"max_new_tokens ≤ {room} at {num_frames} frames (--max-new-tokens {room})")
    raise TokenBudgetError(
        f"{len(names)} of {len(prompts)} clips do not fit the model's context of {context} tokens (its positions, "
        f"rope scaling included) with max_new_tokens={max_new_tokens}: at {num_frames} frames {budget.ids[worst]} is "
        f"{budget.visual_tokens[worst]} visual + {budget.text_tokens[worst]} prompt + {max_new_tokens} new "
        f"tokens = {budget.longest + max_new_tokens}. Clips: {names[:10]}{' …' if len(names) > 10 else ''}. "
        + (f"Use {' or '.join(fixes)}." if fixes else "Shorten the prompt: not even one frame fits.")
    )


def frame_sizes(family, videos: list[tuple[str, object]]) -> tuple[list[str], list[tuple[int, int]] | None]:
    """(ids, (height, width) per id) of the clips whose size the count needs: None for fixed-size families (every
    clip counts the same); for the others, each readable video's upright frame size (unreadable ones are left to
    fail as rows, with their own error)."""
    if family.sampling.max_pixels is None:
        return [name for name, _ in videos], None
    from vidlm.video.decode import load_video

    ids, sizes, known = [], [], {}
    for name, path in videos:
        if path not in known:
            try:
                known[path] = tuple(int(n) for n in load_video(path, indices=[0]).frames.shape[1:3])
            except Exception:  # noqa: BLE001 — a bad video is the row's problem, reported when it is captioned
                known[path] = None
        if known[path] is not None:
            ids.append(name)
            sizes.append(known[path])
    return ids, sizes


def check_before_loading(model: str, processor, family, num_frames: int | None, prompt_text: str,
                         max_new_tokens: int, videos: list[tuple[str, object]]) -> TokenBudget | None:
    """The generation budget of captioning `videos` ((id, path) pairs) with `model` (hub id or folder: its config
    is read, no weights) at `num_frames` (None: `default_frames`); None when no clip is readable."""
    from vidlm.families import model_id
    from vidlm.models import load_config

    ids, sizes = frame_sizes(family, videos)
    if not ids:
        return None
    config = load_config(model_id(model))
    frames = family.sampling.frames(num_frames) if num_frames is not None else default_frames(family, config)
    return check_generation_budget(processor, config, family, frames, [Prompt(prompt_text)] * len(ids),
                                   max_new_tokens, ids, sizes)
