"""SmolVLM2 (`HuggingFaceTB/SmolVLM2-256M-Video-Instruct`, `HuggingFaceTB/SmolVLM2-2.2B-Instruct`): a SigLIP ViT +
pixel shuffle + a linear connector (the projector) + a SmolLM2 (Llama) language model, under `model.text_model`.

Trained on videos sampled at 1 fps, at most 64 frames (the hub processor's `video_sampling`); every frame is resized
to the vision encoder's square (512 px for 256M, 384 px for 2.2B) and taken as one image without splitting:
`<fake_token_around_image><global-img>` + image_seq_len `<image>` tokens (64 for 256M, 81 for 2.2B) +
`<fake_token_around_image>`. The processor writes the clip's length and each frame's time into the prompt
(`You are provided the following series of four frames from a 0:00:04 [H:MM:SS] video.` … `Frame from 00:01:`),
so a clip costs frames × (image_seq_len + 3 + its timestamp's tokens) + the introduction's tokens.
Prompt: the chat template only (`<|im_start|>User: <video>{text}<end_of_utterance>\\nAssistant: {answer}
<end_of_utterance>`); an answer ends with `<end_of_utterance>`, the instruct checkpoints' EOS.
"""

from vidlm.families import Family, Sampling, hub_template

# The hub chat template of HuggingFaceTB/SmolVLM2-256M-Video-Instruct (templates/smolvlm2.jinja; source:
# tests/hub_snapshots/…/SOURCES.json). It has no video branch: for a conversation with a video transformers' SmolVLM
# processor renders its own DEFAULT_CHAT_TEMPLATE instead, which writes `<video>` where the video is.
CHAT_TEMPLATE = hub_template("smolvlm2")

# SmolLM2's chat tokens, then the tokens SmolVLM adds for images and videos (without image splitting's
# `<row_i_col_j>`, which videos never use).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>", "<image>",
                  "<end_of_utterance>", "<global-img>", "<video>")
TOKEN_ROLES = {"eos": "<end_of_utterance>", "pad": "<|im_end|>", "video": "<video>", "image": "<image>"}

# The language model's linear layers: SmolVLM's is `text_model`, not `language_model`.
TEXT_MODEL_LINEARS = r".*text_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"

TINY_SIDE = 64  # tiny frames: 16 px patches → 4×4, pixel-shuffled by 2 → 4 image tokens per frame


def tiny_config(ids: dict):
    from transformers import SmolVLMConfig

    text = dict(model_type="llama", vocab_size=ids["vocab_size"], hidden_size=64, intermediate_size=128,
                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=ids.get("bos"),
                tie_word_embeddings=False)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=TINY_SIDE, patch_size=16)
    return SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=2, image_token_id=ids["<image>"],
                         pad_token_id=ids["pad"], tie_word_embeddings=False)


def tiny_processor(tokenizer, chat_template: str | None = CHAT_TEMPLATE):
    from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

    side = {"longest_edge": TINY_SIDE}
    return SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size=side, max_image_size=side, do_image_splitting=False),
        video_processor=SmolVLMVideoProcessor(size=side, max_image_size=side, fps=1, num_frames=64),
        tokenizer=tokenizer, chat_template=chat_template, image_seq_len=(TINY_SIDE // 16 // 2) ** 2,
    )


FAMILY = Family(
    name="smolvlm2",
    model_type="smolvlm",
    hub_ids=("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "HuggingFaceTB/SmolVLM2-2.2B-Instruct"),
    model_class="SmolVLMForConditionalGeneration",
    processor_class="SmolVLMProcessor",
    sampling=Sampling(num_frames=64, fps=1.0, timestamps=True),
    video_placeholder=None,
    lora_target_modules=TEXT_MODEL_LINEARS,
    projector="model.connector",
    vision_modules=("model.vision_model",),
    packed_inputs=(),
    tiny_config=tiny_config,
    tiny_processor=tiny_processor,
    tiny_special_tokens=SPECIAL_TOKENS,
    token_roles=TOKEN_ROLES,
)
