"""Qwen2.5-VL (`Qwen/Qwen2.5-VL-3B-Instruct`, `Qwen/Qwen2.5-VL-7B-Instruct`): a ViT with window attention, whose
2×2 patch merger is the projector, + a Qwen2.5 language model with multimodal rotary positions.

Trained on videos sampled at 2 fps (qwen-vl-utils: at least 4 frames, an even count) with dynamic resolution: each
frame is resized, aspect kept, to a multiple of 28 px between 128 and 768 merged 28×28 cells (the video processor's
`size`), and consecutive frames are merged in temporal pairs, so a clip costs ⌈frames / 2⌉ × (h/28) × (w/28)
tokens. vidlm caps the clip at 32 frames by default (16 s at 2 fps; set num_frames for more).
Prompt: the chat template only (`<|im_start|>user\\n<|vision_start|><|video_pad|><|vision_end|>{text}<|im_end|>\\n
<|im_start|>assistant\\n{answer}<|im_end|>`); an answer ends with `<|im_end|>`, the instruct models' EOS.
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, hub_template

# The hub chat template of Qwen/Qwen2.5-VL-3B/7B-Instruct (templates/qwen2_5_vl.jinja; source:
# tests/hub_snapshots/…/SOURCES.json): a default system turn, then each message as
# `<|im_start|>{role}\n{content}<|im_end|>\n`, a video as `<|vision_start|><|video_pad|><|vision_end|>`.
CHAT_TEMPLATE = hub_template("qwen2_5_vl")

# Qwen2's special tokens from <|endoftext|> on, in id order (151643, 151644, …): a tokenizer built from Qwen's
# ranks that adds them in this order gets the real ids.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
TOKEN_ROLES = {"eos": "<|im_end|>", "pad": "<|endoftext|>", "video": "<|video_pad|>", "image": "<|image_pad|>"}

# A tiny processor's pixel budget: frames of 28–112 px a side, so two test resolutions give different counts.
TINY_PIXELS = {"shortest_edge": 28 * 28, "longest_edge": 112 * 112}


def tiny_config(ids: dict):
    from transformers import Qwen2_5_VLConfig

    text = dict(vocab_size=ids["vocab_size"], hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 6, 6]},
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=ids.get("bos"))
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0])
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=TINY_PIXELS),
        video_processor=Qwen2VLVideoProcessor(size=TINY_PIXELS, cap_pixels_per_frame=True),
        tokenizer=tokenizer, chat_template=chat_template,
    )


FAMILY = Family(
    name="qwen2.5-vl",
    model_type="qwen2_5_vl",
    hub_ids=("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"),
    model_class="Qwen2_5_VLForConditionalGeneration",
    processor_class="Qwen2_5_VLProcessor",
    sampling=Sampling(num_frames=32, fps=2.0, max_pixels=768 * 28 * 28, temporal_patch=2),
    video_placeholder=None,
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.visual.merger",
    vision_modules=("model.visual",),
    packed_inputs=("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
    tiny_special_tokens=SPECIAL_TOKENS,
    token_roles=TOKEN_ROLES,
)
