"""LLaVA-OneVision (`llava-hf/llava-onevision-qwen2-0.5b-ov-hf`, `llava-hf/llava-onevision-qwen2-7b-ov-hf`): SigLIP
so400m-patch14-384 + a two-layer MLP projector + a Qwen2 language model.

Trained on videos of 32 uniformly sampled frames (the OneVision paper's video stage), every frame resized to
384×384: 27×27 patches bilinearly pooled to 14×14 = 196 tokens per frame, plus one newline token per clip, so a
clip costs frames × 196 + 1 tokens whatever the video's size (the processor resizes, it does not tile videos).
Prompt: the chat template only (`<|im_start|>user <video>\\n{text}<|im_end|><|im_start|>assistant\\n` to generate;
an answered turn is `<|im_start|>assistant \\n{answer}<|im_end|>`, no newline between turns); an answer ends with
`<|im_end|>`, the checkpoints' EOS.
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, hub_template

# The hub chat template of llava-hf/llava-onevision-qwen2-0.5b-ov-hf (templates/llava_onevision.jinja; source:
# tests/hub_snapshots/…/SOURCES.json): `<|im_start|>user <video>\n{text}<|im_end|>` with no newline between turns. It
# renders an answered turn as `<|im_start|>assistant \n{answer}<|im_end|>` but prompts with
# `<|im_start|>assistant\n`; `vidlm.prompts` finds the answer wherever the template puts it.
CHAT_TEMPLATE = hub_template("llava_onevision")

# Qwen2's first special tokens, then llava-hf's added `<image>` (151646) and `<video>` (151647), in id order.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
TOKEN_ROLES = {"eos": "<|im_end|>", "pad": "<|endoftext|>", "video": "<video>", "image": "<image>"}

TINY_SIDE = 64  # tiny frames: 8 px patches → 8×8, pooled to 4×4 = 16 tokens per frame
TINY_PINPOINTS = [[64, 64], [64, 128], [128, 64], [128, 128]]


def tiny_config(ids: dict):
    from transformers import LlavaOnevisionConfig

    text = dict(model_type="qwen2", vocab_size=ids["vocab_size"], hidden_size=64, intermediate_size=128,
                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=ids.get("bos"),
                tie_word_embeddings=False)
    vision = dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2, image_size=TINY_SIDE, patch_size=8, vision_use_head=False)
    return LlavaOnevisionConfig(
        text_config=text, vision_config=vision, image_token_index=ids["<image>"], video_token_index=ids["<video>"],
        image_grid_pinpoints=TINY_PINPOINTS, tie_word_embeddings=False,
    )


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    size = {"height": TINY_SIDE, "width": TINY_SIDE}
    return LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=TINY_PINPOINTS),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tokenizer, chat_template=chat_template, num_image_tokens=(TINY_SIDE // 8) ** 2,
        vision_feature_select_strategy="full",
    )


FAMILY = Family(
    name="llava-onevision",
    model_type="llava_onevision",
    hub_ids=("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
    model_class="LlavaOnevisionForConditionalGeneration",
    processor_class="LlavaOnevisionProcessor",
    sampling=Sampling(num_frames=32),  # uniform; every frame resized to 384×384
    video_placeholder=None,
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.multi_modal_projector",
    vision_modules=("model.vision_tower",),
    packed_inputs=(),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
    tiny_special_tokens=SPECIAL_TOKENS,
    token_roles=TOKEN_ROLES,
)
