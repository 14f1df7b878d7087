import pytest

from vidlm.models import load_processor
from vidlm.prompts import format_prompt


def test_documented_video_llava_format_single_and_multi_turn():
    assert format_prompt("video-llava", "Describe the video.").text == "USER: <video>Describe the video. ASSISTANT:"
    p = format_prompt("video-llava", "Which way?", "left", history=[("Describe it.", "a red circle")])
    assert p.text == "USER: <video>Describe it. ASSISTANT: a red circle</s>USER: Which way? ASSISTANT: left</s>"
    assert p.supervised_text() == [" a red circle</s>", " left</s>"]


def test_documented_llava_next_video_format_puts_a_newline_after_the_video():
    assert format_prompt("llava-next-video", "Describe.").text == "USER: <video>\nDescribe. ASSISTANT:"


def test_chat_template_path_matches_the_hub_form(tiny_checkpoints):
    processor = load_processor(tiny_checkpoints["llava-next-video"])
    assert processor.chat_template  # the tiny LLaVA-NeXT-Video checkpoint has one, like the hub checkpoint
    assert format_prompt("llava-next-video", "Describe.", processor=processor).text == \
        "USER: <video>\nDescribe. ASSISTANT:"
    p = format_prompt("llava-next-video", "Which way?", "left", history=[("Describe.", "a red circle")],
                      processor=processor)
    assert p.text == "USER: <video>\nDescribe. ASSISTANT: a red circle</s> USER: Which way? ASSISTANT: left</s>"
    assert p.supervised_text() == [" a red circle</s>", " left</s>"]


def test_generation_prompt_is_the_training_text_up_to_the_answer(tiny_checkpoints):
    for family, path in tiny_checkpoints.items():
        processor = load_processor(path)
        history = [("Describe.", "a red circle moves left")]
        train = format_prompt(family, "Which way?", "left", history=history, processor=processor)
        ask = format_prompt(family, "Which way?", history=history, processor=processor)
        assert train.text.startswith(ask.text) and train.text[len(ask.text):] == " left</s>"


def test_each_supervised_span_starts_where_its_generation_prompt_ends(tiny_checkpoints):
    """A span is the separator, the answer and EOS; the text before it is exactly that answer's generation prompt."""
    for family, path in tiny_checkpoints.items():
        processor = load_processor(path)
        history = [("Describe.", "a red circle")]
        p = format_prompt(family, "Which way?", "left", history=history, processor=processor)
        asks = [format_prompt(family, "Describe.", processor=processor).text,
                format_prompt(family, "Which way?", history=history, processor=processor).text]
        assert [p.text[:start] for start, _ in p.supervised] == asks
        assert p.supervised_text() == [" a red circle</s>", " left</s>"] and p.text.endswith("left</s>")


@pytest.mark.parametrize("bad", [dict(instruction=""), dict(answer="  "), dict(history=[("q", "")])])
def test_bad_turns_are_rejected_with_a_message(bad):
    kwargs = {"instruction": "Describe.", **bad}
    with pytest.raises(ValueError, match="non-empty"):
        format_prompt("video-llava", kwargs.pop("instruction"), **kwargs)
