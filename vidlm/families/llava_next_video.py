"""LLaVA-NeXT-Video (`llava-hf/LLaVA-NeXT-Video-7B-hf`, `-34B-hf`): CLIP ViT-L/14-336 + Vicuna-7B (34B:
Nous-Hermes-2-Yi-34B), frames pooled 2x2.

Trained on 32 uniformly sampled frames at 336 px: 24×24 patches average-pooled to 12×12 = 144 tokens per frame.
The 7B's linear rope scaling (×2.5) stretches its 4,096 positions to 10,240, which hold the 32 frames; the 34B has
4,096 and gets 26 by default (`vidlm.budget.default_frames`).
Prompt: `USER: <video>\\n{text} ASSISTANT:`, the 7B's hub chat template (the 34B's is ChatML: every checkpoint
renders with its own processor's template).
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, hub_template, tiny_backbones

# The hub chat template of llava-hf/LLaVA-NeXT-Video-7B-hf (templates/llava_next_video.jinja; source and confidence:
# tests/hub_snapshots/llava-hf--LLaVA-NeXT-Video-7B-hf/SOURCES.json): `USER: <video>\n{text} ASSISTANT:`; an assistant
# turn is `ASSISTANT: {answer} `. The checkpoint's EOS is not in the template, so vidlm adds it after each answer.
CHAT_TEMPLATE = hub_template("llava_next_video")


def tiny_config(ids: dict):
    from transformers import LlavaNextVideoConfig

    text, vision = tiny_backbones(ids)
    return LlavaNextVideoConfig(
        text_config=text, vision_config=vision, image_token_index=ids["<image>"], video_token_index=ids["<video>"],
        spatial_pool_stride=2, image_grid_pinpoints=[[64, 128], [128, 64], [128, 128]],
        video_seq_length=16 * 8, image_seq_length=64,
    )


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import LlavaNextImageProcessor, LlavaNextVideoProcessor, LlavaNextVideoVideoProcessor

    size = {"shortest_edge": 64}
    crop = {"height": 64, "width": 64}
    return LlavaNextVideoProcessor(
        video_processor=LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
        image_processor=LlavaNextImageProcessor(
            size=size, crop_size=crop, image_grid_pinpoints=[[64, 128], [128, 64], [128, 128]]
        ),
        tokenizer=tokenizer, chat_template=chat_template, patch_size=8, vision_feature_select_strategy="default",
    )


FAMILY = Family(
    name="llava-next-video",
    model_type="llava_next_video",
    hub_ids=("llava-hf/LLaVA-NeXT-Video-7B-hf", "llava-hf/LLaVA-NeXT-Video-34B-hf"),
    model_class="LlavaNextVideoForConditionalGeneration",
    processor_class="LlavaNextVideoProcessor",
    sampling=Sampling(num_frames=32),  # uniform; every frame resized and cropped to 336 px
    video_placeholder="<video>\n",
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.multi_modal_projector",
    vision_modules=("model.vision_tower",),
    packed_inputs=(),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
)
