"""Video-LLaVA (`LanguageBind/Video-LLaVA-7B-hf`): LanguageBind video and image towers (ViT-L/14-224) + Vicuna-7B.

Trained on exactly 8 frames at 224 px; every frame keeps its 16×16 patches plus CLS = 257 tokens (2,056 per clip).
Prompt: `USER: <video>{text} ASSISTANT:`, multi-turn `... ASSISTANT: {answer} USER: {text} ASSISTANT:`.
The hub repo's main branch has no chat template (one exists only in an unmerged pull request: see
tests/hub_snapshots/LanguageBind--Video-LLaVA-7B-hf/SOURCES.json), so users get the documented form, and the tiny
checkpoint has none either: it exercises that path.
"""

from vidlm.families import LANGUAGE_MODEL_LINEARS, Family, Sampling, tiny_backbones


def tiny_config(ids: dict):
    from transformers import VideoLlavaConfig

    text, vision = tiny_backbones(ids)
    return VideoLlavaConfig(
        text_config=text, vision_config=vision, image_token_index=ids["<image>"], video_token_index=ids["<video>"],
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
    model_type="video_llava",
    hub_ids=("LanguageBind/Video-LLaVA-7B-hf",),
    model_class="VideoLlavaForConditionalGeneration",
    processor_class="VideoLlavaProcessor",
    sampling=Sampling(num_frames=8),  # exactly 8 frames, uniform, 224 px
    video_placeholder="<video>",
    lora_target_modules=LANGUAGE_MODEL_LINEARS,
    projector="model.multi_modal_projector",
    vision_modules=("model.video_tower", "model.image_tower"),
    packed_inputs=(),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
)
