import pytest

from vidlm.adapters import load_adapter
from vidlm.captioning import caption_videos, generation_config
from vidlm.data.samples import read_captions_csv
from vidlm.models import load_processor
from vidlm.demo.synthetic import attribute_accuracy

PROMPTS = ["Describe the video.", "What is in this clip?", "Describe.", "What is happening in the video?"]


def test_left_padded_batches_caption_like_one_at_a_time(trained, synthetic_data):
    result, config = trained
    processor = load_processor(config.model)
    model = load_adapter(config.model, result.adapter_dir)
    videos = [s.video for s in read_captions_csv(synthetic_data["test"])]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(len(videos))]  # different lengths → real padding
    batched = caption_videos(model, processor, videos, prompts, num_frames=4, batch_size=8, max_new_tokens=8,
                             progress=False)
    single = [caption_videos(model, processor, [v], [p], num_frames=4, batch_size=1, max_new_tokens=8,
                             progress=False)[0] for v, p in zip(videos, prompts)]
    assert batched == single
    assert any(c.startswith("a ") for c in batched)  # the adapter taught the caption form


def test_the_finetuned_adapter_beats_the_base_model_on_colour(trained, synthetic_data):
    result, config = trained
    processor = load_processor(config.model)
    test = read_captions_csv(synthetic_data["test"])
    videos, refs = [s.video for s in test], [s.answer for s in test]
    from vidlm.models import load_model

    vanilla = caption_videos(load_model(config.model), processor, videos, num_frames=4, max_new_tokens=8,
                             progress=False)
    tuned = caption_videos(load_adapter(config.model, result.adapter_dir), processor, videos, num_frames=4,
                           max_new_tokens=8, progress=False)
    assert attribute_accuracy(vanilla, refs)["colour"] == 0.0
    # Above chance (1 in 4 colours). Measured for training seeds 0-4 on 1 and 2 torch threads: 5/8 to 7/8 (the same on
    # both thread counts), so the margin is two clips of eight.
    assert attribute_accuracy(tuned, refs)["colour"] > 0.25


def test_generation_is_greedy_and_stops_at_eos(tiny_checkpoints):
    processor = load_processor(tiny_checkpoints["video-llava"])
    config = generation_config(processor, max_new_tokens=5)
    assert (config.do_sample, config.num_beams, config.max_new_tokens) == (False, 1, 5)
    assert config.eos_token_id == processor.tokenizer.eos_token_id


def test_one_prompt_per_video_must_match(trained, synthetic_data):
    result, config = trained
    with pytest.raises(ValueError, match="2 prompts for 1 videos"):
        caption_videos(result.model, load_processor(config.model), ["x.mp4"], ["a", "b"], progress=False)
