"""Labels with the real Llama-2 SentencePiece tokenizer (Vicuna's, which LLaVA-NeXT-Video-7B and Video-LLaVA-7B use).

The rule: every token after the generation prompt, through EOS, is supervised — a lone separator token `▁` included
— and nothing before it; the generation prompt is a token prefix of the training sequence. The expected labels are
computed here from the tokenizer and the generation prompts alone, independently of `encode`.
"""

import pytest

from helpers.models_fixtures import random_frames
from helpers.real_tokenizers import real_checkpoints  # noqa: F401  (session fixture)
from vidlm.collate import IGNORE_INDEX, TrainCollator, encode, show_supervised
from vidlm.models import load_processor
from vidlm.prompts import Prompt, format_prompt

FAMILIES = ["llava-next-video", "video-llava"]

# kind -> (answer as given, the answer as trained: format_prompt strips surrounding whitespace)
ANSWERS = {
    "word": ("The red circle moves left.", "The red circle moves left."),
    "digit": ("1999 was the year.", "1999 was the year."),
    "punctuation": ("...then it stops.", "...then it stops."),
    "quote": ('"Left," it says.', '"Left," it says.'),
    "cjk": ("红色的圆向左移动。", "红色的圆向左移动。"),
    "emoji": ("🙂 a happy clip", "🙂 a happy clip"),
    "spaces": ("  two spaces around  ", "two spaces around"),
    "newline": ("First line.\nSecond line.", "First line.\nSecond line."),
}


@pytest.fixture(scope="module")
def processors(real_checkpoints):  # noqa: F811
    return {family: load_processor(path) for family, path in real_checkpoints.items()}


def expected_labels(tokenizer, ids, generation_prompts):
    """Labels by the rule, from the unexpanded token ids: after each generation prompt's tokens, through EOS."""
    labels = [IGNORE_INDEX] * len(ids)
    for prompt in generation_prompts:
        start = len(tokenizer(prompt)["input_ids"])
        end = ids.index(tokenizer.eos_token_id, start) + 1
        labels[start:end] = ids[start:end]
    return labels


def without_visual(features, video_id):
    """(input_ids, labels) with the visual tokens folded back into one placeholder; visual labels must be -100."""
    ids, labels, out_ids, out_labels = features["input_ids"].tolist(), features["labels"].tolist(), [], []
    for k, (token, label) in enumerate(zip(ids, labels)):
        if token == video_id:
            assert label == IGNORE_INDEX
            if k and ids[k - 1] == video_id:
                continue
        out_ids.append(token)
        out_labels.append(label)
    return out_ids, out_labels


@pytest.mark.parametrize("kind", ANSWERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_token_after_the_generation_prompt_through_eos_is_supervised(processors, family, kind):
    processor = processors[family]
    tok = processor.tokenizer
    given, trained = ANSWERS[kind]
    video_id = tok.convert_tokens_to_ids("<video>")
    history = [("Describe the video.", given)]
    cases = {  # name -> (training prompt, generation prompts of its answers)
        "single": (format_prompt(family, "Describe the video.", given, processor=processor),
                   [format_prompt(family, "Describe the video.", processor=processor).text]),
        "multi": (format_prompt(family, "And then?", given, history=history, processor=processor),
                  [format_prompt(family, "Describe the video.", processor=processor).text,
                   format_prompt(family, "And then?", history=history, processor=processor).text]),
    }
    for name, (prompt, asks) in cases.items():
        features = encode(processor, prompt, random_frames(0))
        ids, labels = without_visual(features, video_id)
        assert ids == tok(prompt.text)["input_ids"]
        for ask in asks:  # each generation prompt is a token prefix of the training sequence
            ask_ids = tok(ask)["input_ids"]
            assert ids[:len(ask_ids)] == ask_ids, (name, ask)
        assert labels == expected_labels(tok, ids, asks), name
        # Each supervised run is the separator, the answer and EOS: decoded after the prompt's last token (':'),
        # it reads ': ' + answer + '</s>'; the run's first token carries the separator ('▁' alone or '▁The').
        runs, k = [], 0
        while k < len(labels):
            if labels[k] == IGNORE_INDEX:
                k += 1
                continue
            j = k
            while j < len(labels) and labels[j] != IGNORE_INDEX:
                j += 1
            runs.append((k, j))
            k = j
        assert len(runs) == len(asks), name
        for start, end in runs:
            assert tok.convert_ids_to_tokens(ids[start - 1]) == ":"
            assert tok.decode(ids[start - 1:end]) == ": " + trained + "</s>", name
            assert tok.convert_ids_to_tokens(ids[start]).startswith("▁")
            assert tok.decode(ids[start:end]) == trained + "</s>"


@pytest.mark.parametrize("family", FAMILIES)
def test_an_answer_starting_with_a_digit_trains_the_lone_separator_token(processors, family):
    """The issue's example: after `ASSISTANT:` the tokens are ':' '▁' '1' '9' '9' '9' '▁was' …; '▁' is trained."""
    processor = processors[family]
    tok = processor.tokenizer
    prompt = format_prompt(family, "Describe the video.", "1999 was the year.", processor=processor)
    features = encode(processor, prompt, random_frames(0))
    supervised = [t for t in features["labels"].tolist() if t != IGNORE_INDEX]
    assert tok.convert_ids_to_tokens(supervised) == ["▁", "1", "9", "9", "9", "▁was", "▁the", "▁year", ".", "</s>"]
    batch = TrainCollator(tok.pad_token_id)([features])
    assert show_supervised(batch, tok) == [" 1999 was the year.</s>"]
    assert show_supervised(batch, tok, full=True)[0].endswith("ASSISTANT:[[ 1999 was the year.</s>]]")


def test_the_real_tokenizer_splits_the_hub_prompt_as_the_hub_tokenizer_does(processors):
    """transformers' LLaVA-NeXT-Video processor test tokenises the hub prompt (its chat template, generation prompt
    added) as these ids: '<s>' '▁US' 'ER' ':' '▁' '<video>' '\\n' 'What' … '▁A' 'SS' 'IST' 'ANT' ':'."""
    processor = processors["llava-next-video"]
    tok = processor.tokenizer
    text = format_prompt("llava-next-video", "What is shown in this video?", processor=processor).text
    assert text == "USER: <video>\nWhat is shown in this video? ASSISTANT:"
    ids = tok(text)["input_ids"]
    assert ids == [1, 3148, 1001, 29901, 29871, 32000, 13, 5618, 338, 4318, 297, 445, 4863, 29973, 319, 1799, 9047,
                   13566, 29901]
    assert tok.convert_ids_to_tokens(ids) == [
        "<s>", "▁US", "ER", ":", "▁", "<video>", "<0x0A>", "What", "▁is", "▁shown", "▁in", "▁this", "▁video", "?",
        "▁A", "SS", "IST", "ANT", ":"]
    assert tok.convert_tokens_to_ids(["<video>", "<image>"]) == [32000, 32001] and tok.pad_token_id == 0
    other = processors["video-llava"].tokenizer
    assert other.convert_tokens_to_ids(["<image>", "<video>", "<pad>"]) == [32000, 32001, 32002]
    assert other.pad_token_id == 32002


def test_a_generation_prompt_that_is_not_a_token_prefix_is_refused(processors):
    """Cut inside a token ('ASSISTANT: Th|e end'): the prompt's tokens '▁Th' are not a prefix of '▁The', so where the
    answer starts is undefined and encode says so instead of guessing."""
    processor = processors["video-llava"]
    text = "USER: <video>Describe. ASSISTANT: The end</s>"
    with pytest.raises(ValueError, match=r"does not tokenise as a prefix of the training text 'e end</s>'"):
        encode(processor, Prompt(text, [(text.index("Th") + 2, len(text))]), random_frames(0))
