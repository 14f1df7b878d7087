"""Checks every family file must pass, shared by the per-family test modules."""

PROMPTS = ["Describe the video.", "What is in this clip?", "Describe.", "What is happening in the video?"]


def batched_and_single_captions(model, model_id: str, test_csv) -> tuple[list[str], list[str]]:
    """Captions of 4 held-out clips with 4 different prompts: one left-padded batch, and one clip at a time."""
    from vidlm.captioning import caption_videos
    from vidlm.data.samples import read_captions_csv
    from vidlm.models import load_processor

    processor = load_processor(model_id)
    videos = [s.video for s in read_captions_csv(test_csv)][:4]
    batched = caption_videos(model, processor, videos, PROMPTS, num_frames=4, batch_size=4, max_new_tokens=6,
                             progress=False)
    single = [caption_videos(model, processor, [v], [p], num_frames=4, batch_size=1, max_new_tokens=6,
                             progress=False)[0] for v, p in zip(videos, PROMPTS)]
    return batched, single


def train_a_few_steps(checkpoint, train_csv, output_dir):
    """16 QLoRA steps of a tiny checkpoint on the synthetic clips (loss logged every 2): (FinetuneResult, config)."""
    from helpers.models_fixtures import TRAIN_SETTINGS
    from vidlm.data.samples import read_captions_csv
    from vidlm.train import FinetuneConfig, finetune

    config = FinetuneConfig(model=checkpoint, quantization="4bit", max_steps=16, output_dir=str(output_dir),
                            **{**TRAIN_SETTINGS, "logging_steps": 2})
    return finetune(config, read_captions_csv(train_csv), verbose=False), config
