"""InternVL3 (`OpenGVLab/InternVL3-1B-hf`, `OpenGVLab/InternVL3-8B-hf`): InternViT-300M-448px-V2.5 + pixel shuffle
(0.5) + a two-layer MLP projector + a Qwen2.5 language model.

Videos as in the model card's video example: 8 uniformly sampled segments, each frame resized to 448×448 and
taken as one tile without dynamic tiling: 32×32 patches pixel-shuffled to 16×16 = 256 `<IMG_CONTEXT>` tokens per
frame, written as `Frame1: <img>…</img>` lines, so a clip costs frames × (256 + 2 + the `FrameN: ` label's tokens)
+ the newlines between frames, whatever the video's size.
Prompt: the chat template only (`<|im_start|>user\\n<video>\\n{text}<|im_end|>\\n<|im_start|>assistant\\n{answer}
<|im_end|>`, no default system turn); an answer ends with `<|im_end|>`, the checkpoints' EOS.
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, hub_template

# The hub chat template of OpenGVLab/InternVL3-1B-hf (templates/internvl3.jinja; source:
# tests/hub_snapshots/…/SOURCES.json): no default system turn, `<|im_start|>{role}\n…<|im_end|>\n` turns, a video as
# `<video>\n` and an image as `<IMG_CONTEXT>\n` before the text of a turn.
CHAT_TEMPLATE = hub_template("internvl3")

# Qwen2.5's chat tokens, then the tokens InternVL adds for images and videos.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>")
# The -hf tokenizer's named tokens, which the processor reads (`tokenizer.start_image_token` …).
TOKEN_ROLES = {"eos": "<|im_end|>", "pad": "<|endoftext|>", "video": "<video>", "image": "<IMG_CONTEXT>",
               "context_image": "<IMG_CONTEXT>", "start_image": "<img>", "end_image": "</img>"}

TINY_SIDE = 64  # tiny frames: 8 px patches → 8×8, pixel-shuffled by 0.5 → 16 tokens per frame


def tiny_config(ids: dict):
    from transformers import InternVLConfig

    text = dict(model_type="qwen2", vocab_size=ids["vocab_size"], hidden_size=64, intermediate_size=128,
                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=ids.get("bos"),
                tie_word_embeddings=False)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=[TINY_SIDE, TINY_SIDE], patch_size=[8, 8], layer_scale_init_value=0.1,
                  use_qk_norm=False, norm_type="layer_norm")
    return InternVLConfig(text_config=text, vision_config=vision, image_token_id=ids["<IMG_CONTEXT>"],
                          image_seq_length=(TINY_SIDE // 8 // 2) ** 2, downsample_ratio=0.5,
                          tie_word_embeddings=False)


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import GotOcr2ImageProcessor, InternVLProcessor, InternVLVideoProcessor

    size = {"height": TINY_SIDE, "width": TINY_SIDE}
    return InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=False),
        video_processor=InternVLVideoProcessor(size=size),
        tokenizer=tokenizer, chat_template=chat_template, image_seq_length=(TINY_SIDE // 8 // 2) ** 2,
    )


FAMILY = Family(
    name="internvl3",
    model_type="internvl",
    hub_ids=("OpenGVLab/InternVL3-1B-hf", "OpenGVLab/InternVL3-8B-hf"),
    model_class="InternVLForConditionalGeneration",
    processor_class="InternVLProcessor",
    sampling=Sampling(num_frames=8),  # uniform segments; every frame resized to 448×448, one tile
    video_placeholder=None,
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.multi_modal_projector",
    vision_modules=("model.vision_tower",),
    # the processor puts every frame of every clip of a batch in one `pixel_values` [frames, 3, 448, 448]
    packed_inputs=("pixel_values",),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
    tiny_special_tokens=SPECIAL_TOKENS,
    token_roles=TOKEN_ROLES,
)
