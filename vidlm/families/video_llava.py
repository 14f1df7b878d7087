"""Video-LLaVA (`LanguageBind/Video-LLaVA-7B-hf`): LanguageBind video and image towers (ViT-L/14-224) + Vicuna-7B.

Trained on exactly 8 frames at 224 px; every frame keeps its 16×16 patches plus CLS = 257 tokens (2,056 per clip).
Prompt: `USER: <video>{text} ASSISTANT:`, multi-turn `... ASSISTANT: {answer} USER: {text} ASSISTANT:`.
The original hub upload had no chat template (one was added later), so the tiny checkpoint has none: it exercises
the documented-format path.
"""

from vidlm.families import Family, tiny_backbones

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def tokens_per_frame(config) -> int:
    """(image / patch)² patches + the CLS token, for every frame (the video path keeps CLS)."""
    vision = config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 + 1


def tiny_config(ids: dict):
    from transformers import VideoLlavaConfig

    text, vision = tiny_backbones(ids)
    return VideoLlavaConfig(
        text_config=text, vision_config=vision, image_token_index=ids["image"], video_token_index=ids["video"],
        image_seq_length=64, video_seq_length=65 * 8,
    )


def tiny_processor(tokenizer, chat_template: str | None = None):
    from transformers import VideoLlavaImageProcessor, VideoLlavaProcessor, VideoLlavaVideoProcessor

    size = {"shortest_edge": 64}
    crop = {"height": 64, "width": 64}
    return VideoLlavaProcessor(
        image_processor=VideoLlavaImageProcessor(size=size, crop_size=crop),
        video_processor=VideoLlavaVideoProcessor(size=size, crop_size=crop),
        tokenizer=tokenizer, chat_template=chat_template, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


FAMILY = Family(
    name="video-llava",
    hub_id="LanguageBind/Video-LLaVA-7B-hf",
    model_class="VideoLlavaForConditionalGeneration",
    processor_class="VideoLlavaProcessor",
    num_frames=8,
    video_placeholder="<video>",
    lora_target_modules=LORA_TARGETS,
    projector="model.multi_modal_projector",
    vision_modules=("model.video_tower", "model.image_tower"),
    tokens_per_frame=tokens_per_frame,
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
)
