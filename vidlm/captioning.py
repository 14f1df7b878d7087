"""Caption videos with a base model or base + adapter: batched, left-padded, one shared greedy config.

Vanilla and fine-tuned models are compared with the same `generation_config`, frames and prompt, so the only
difference between their captions is the weights.
"""

from __future__ import annotations


import numpy as np

from vidlm.prompts import DEFAULT_PROMPT


def generation_config(processor, max_new_tokens: int = 64):
    """Greedy decoding (no sampling, one beam, no repetition penalty) stopping at EOS."""
    from transformers import GenerationConfig

    tok = processor.tokenizer
    return GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, repetition_penalty=1.0,
                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                            bos_token_id=tok.bos_token_id)


def caption_videos(model, processor, videos: list, prompt: str | list[str] = DEFAULT_PROMPT,
                   num_frames: int | None = None, batch_size: int = 8, max_new_tokens: int = 64, progress: bool = True, family=None) -> list[str]:
    """One caption per video (paths, `VideoClip`s or frame arrays [T, H, W, 3]), in input order.

    prompt: one instruction for all videos, or one per video (rows of different lengths are left-padded).
    num_frames: frames sampled from each path by the family's policy (None: the family's default, fewer where the
        checkpoint's context needs it: `vidlm.budget.default_frames`).
    family: the model's family when the caller has it; else read from the model's config.
    """
    from vidlm.budget import default_frames
    from vidlm.collate import generation_batch
    from vidlm.families import family_of
    from vidlm.runtime.progress import tqdm
    from vidlm.prompts import format_prompt
    family = family or family_of(model.config)
    if num_frames is None:
        num_frames = default_frames(family, model.config)
    prompts = [prompt] * len(videos) if isinstance(prompt, str) else list(prompt)
    if len(prompts) != len(videos):
        raise ValueError(f"{len(prompts)} prompts for {len(videos)} videos")
    texts = [format_prompt(family, p, processor=processor).text for p in prompts]
    config = generation_config(processor, max_new_tokens)
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    model.eval()
    captions = []
    for start in tqdm(range(0, len(videos), batch_size), desc="captioning", unit="batch", disable=not progress):
        chunk = videos[start:start + batch_size]
        clips = [v if isinstance(v, np.ndarray) or hasattr(v, "frames") else family.sampling.load(v, num_frames)
                 for v in chunk]
        batch = generation_batch(processor, texts[start:start + batch_size], clips, family)
        captions += generate_captions(model, processor, batch, config, dtype)
    return captions


def generate_captions(model, processor, batch, config, dtype=None) -> list[str]:
    """The decoded new tokens of each row of a left-padded `generation_batch`, generated with `config`.

    dtype: the model's floating dtype, for the pixel values (looked up when not given).
    """
    import torch

    if dtype is None:
        dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    batch = batch.to(model.device)
    for key in ("pixel_values_videos", "pixel_values"):  # SmolVLM passes a clip's frames as images
        if key in batch:
            batch[key] = batch[key].to(dtype)
    with torch.inference_mode():
        out = model.generate(**batch, generation_config=config)
    new_tokens = out[:, batch["input_ids"].shape[1]:]
    return [c.strip() for c in processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
