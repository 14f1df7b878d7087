"""Qwen3-VL (`Qwen/Qwen3-VL-2B-Instruct`, `Qwen/Qwen3-VL-8B-Instruct`): a SigLIP-2-style ViT whose 2×2 patch merger
(plus DeepStack mergers feeding early language layers) is the projector, + a Qwen3 language model with interleaved
multimodal rotary positions.

Trained on videos sampled at 2 fps (the video processor's `fps`, at least 4 frames) with dynamic resolution in
32 px cells (patch 16, merged 2×2) within a pixel budget for the whole clip (frames × height × width ≤ 24,576
cells of 32², the hub processor's `size.longest_edge`), so more frames means smaller frames; consecutive frames are
merged in temporal pairs.
Each pair's time is written into the prompt as text, `<1.3 seconds>`, before its `<|vision_start|>…<|vision_end|>`,
so a clip costs ⌈frames / 2⌉ × ((h/32)·(w/32) + 2 + the timestamp's tokens). vidlm caps the clip at 32 frames by
default. Prompt: the chat template only, no default system turn; an answer ends with `<|im_end|>`.
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, hub_template
from vidlm.families.qwen2_5_vl import SPECIAL_TOKENS, TOKEN_ROLES

# The hub chat template of Qwen/Qwen3-VL-2B/8B-Instruct (templates/qwen3_vl.jinja; source:
# tests/hub_snapshots/…/SOURCES.json), tool-calling branches included: an optional system turn, then
# `<|im_start|>{role}\n{content}<|im_end|>\n`, a video as `<|vision_start|><|video_pad|><|vision_end|>`.
CHAT_TEMPLATE = hub_template("qwen3_vl")

# A tiny processor's pixel budget: frames of 32–128 px a side, so two test resolutions give different counts.
TINY_PIXELS = {"shortest_edge": 32 * 32, "longest_edge": 128 * 128}


def tiny_config(ids: dict):
    from transformers import Qwen3VLConfig

    text = dict(vocab_size=ids["vocab_size"], hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=2048,
                rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [6, 5, 5],
                                 "mrope_interleaved": True},
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=ids.get("bos"))
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[0])
    return Qwen3VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=TINY_PIXELS, patch_size=16),
        video_processor=Qwen3VLVideoProcessor(size=TINY_PIXELS, cap_pixels_per_frame=True),
        tokenizer=tokenizer, chat_template=chat_template,
    )


FAMILY = Family(
    name="qwen3-vl",
    model_type="qwen3_vl",
    hub_ids=("Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"),
    model_class="Qwen3VLForConditionalGeneration",
    processor_class="Qwen3VLProcessor",
    sampling=Sampling(num_frames=32, fps=2.0, max_pixels=24576 * 32 * 32, pixels_over="clip", temporal_patch=2,
                      timestamps=True),
    video_placeholder=None,
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.visual.merger",
    vision_modules=("model.visual",),
    packed_inputs=("pixel_values_videos", "video_grid_thw"),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
    tiny_special_tokens=SPECIAL_TOKENS,
    token_roles=TOKEN_ROLES,
)
