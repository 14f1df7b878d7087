import pytest
import torch
import transformers

from helpers.models_fixtures import FAMILIES, random_frames
from vidlm.collate import (IGNORE_INDEX, TokenBudget, TokenBudgetError, TrainCollator, check_token_budget, encode,
                           generation_batch, show_supervised, visual_tokens)
from vidlm.families import get_family
from vidlm.models import load_processor
from vidlm.prompts import format_prompt

CASES = [
    ("Describe the video.", "a red circle moves left", []),
    ("Which direction does it move?", "left", [("Describe the video.", "a blue square moves up")]),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_supervised_tokens_decode_to_answers_and_eos(tiny_checkpoints, family):
    processor = load_processor(tiny_checkpoints[family])
    tok = processor.tokenizer
    features = [encode(processor, format_prompt(family, q, a, history=h, processor=processor), random_frames(i))
                for i, (q, a, h) in enumerate(CASES)]
    batch = TrainCollator(tok.pad_token_id)(features)
    # single turn: exactly the answer and EOS; multi-turn: each answer followed by EOS
    expected = [
        tok("a red circle moves left</s>", add_special_tokens=False)["input_ids"],
        tok("a blue square moves up</s>left</s>", add_special_tokens=False)["input_ids"],
    ]
    for row, want in zip(batch["labels"], expected):
        assert [t for t in row.tolist() if t != IGNORE_INDEX] == want
    # as each answer reads in its row: the word-level decoder puts a space between tokens, so each starts with one
    assert show_supervised(batch, tok) == [" a red circle moves left </s>", " a blue square moves up </s> left </s>"]
    # video, prompt and padding positions are never supervised
    video_id = tok.convert_tokens_to_ids("<video>")
    assert (batch["labels"][batch["input_ids"] == video_id] == IGNORE_INDEX).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    full = show_supervised(batch, tok, full=True)[1]
    assert "assistant :[[ a blue square moves up </s>]]" in full and "assistant :[[ left </s>]]" in full
    assert full.startswith("<s> user : <video>×")


def test_collator_pads_right_to_the_longest(tiny_checkpoints):
    processor = load_processor(tiny_checkpoints["video-llava"])
    short = encode(processor, format_prompt("video-llava", "Describe.", "up", processor=processor), random_frames(0))
    long = encode(processor, format_prompt("video-llava", "Describe the video.", "a red circle moves left",
                                           processor=processor), random_frames(1))
    batch = TrainCollator(processor.tokenizer.pad_token_id)([short, long])
    width = len(long["input_ids"])
    assert batch["input_ids"].shape == (2, width) and batch["pixel_values_videos"].shape[:2] == (2, 4)
    gap = width - len(short["input_ids"])
    assert batch["attention_mask"][0].tolist() == [1] * len(short["input_ids"]) + [0] * gap
    assert batch["input_ids"][0, -gap:].eq(processor.tokenizer.pad_token_id).all()


def test_generation_batch_pads_left(tiny_checkpoints):
    processor = load_processor(tiny_checkpoints["llava-next-video"])
    batch = generation_batch(processor, ["USER: <video>\nDescribe. ASSISTANT:",
                                         "USER: <video>\nDescribe the video in detail. ASSISTANT:"],
                             [random_frames(0), random_frames(1)])
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][0, -1] == 1
    assert batch["input_ids"][0, -1] == batch["input_ids"][1, -1]  # both end with the same last prompt token


@pytest.mark.parametrize("family", FAMILIES)
def test_token_budget_check_fires_with_what_to_change(tiny_checkpoints, family):
    processor = load_processor(tiny_checkpoints[family])
    config = transformers.AutoConfig.from_pretrained(tiny_checkpoints[family])
    fam = get_family(family)
    prompts = [format_prompt(family, "Describe the video.", "a red circle moves left", processor=processor)]
    budget = check_token_budget(processor, config, fam, 4, prompts, max_length=1024)
    assert budget.visual_tokens == [visual_tokens(processor, fam, 4, 64, 64)]
    assert budget.longest == len(encode(processor, prompts[0], random_frames(0))["input_ids"])
    with pytest.raises(TokenBudgetError) as err:
        check_token_budget(processor, config, fam, 4, prompts, max_length=budget.longest - 1, ids=["clip_7"])
    message = str(err.value)
    assert "clip_7" in message and "num_frames" in message and f"max_length to ≥ {budget.longest}" in message


def test_the_real_7b_budget_of_32_frames_exceeds_vicunas_4096_positions(tiny_checkpoints):
    """LLaVA-NeXT-Video-7B's processor (336 px, patch 14, pooled 2×2) with its 32 training frames expands the video
    into 4,608 tokens: the check, asking that processor, says so up front."""
    from transformers import LlavaNextVideoVideoProcessor

    processor = load_processor(tiny_checkpoints["llava-next-video"])
    processor.video_processor = LlavaNextVideoVideoProcessor(size={"shortest_edge": 336},
                                                             crop_size={"height": 336, "width": 336})
    processor.patch_size = 14
    config = transformers.LlavaNextVideoConfig()
    config.text_config.max_position_embeddings = 4096
    prompt = format_prompt("llava-next-video", "Describe the video.", "a red circle moves left", processor=processor)
    with pytest.raises(TokenBudgetError, match=r"at 32 frames the longest \(0\) is 4608 visual tokens"):
        check_token_budget(processor, config, get_family("llava-next-video"), 32, [prompt])


def test_a_prompt_without_the_video_placeholder_is_rejected(tiny_checkpoints):
    from vidlm.prompts import Prompt

    processor = load_processor(tiny_checkpoints["video-llava"])
    with pytest.raises(ValueError, match="exactly once"):
        encode(processor, Prompt("USER: hi ASSISTANT: up</s>", [(19, 26)]), random_frames(0))


def test_the_longest_sample_keeps_its_own_visual_and_text_split():
    """Sample a has the most visual tokens, b the most text; c is the longest sequence. The memory estimate takes
    c's split (560 + 90 = 650), not the per-column maxima (600 + 120 = 720) no sample has."""
    budget = TokenBudget(ids=["a", "b", "c"], visual_tokens=[600, 100, 560], text_tokens=[10, 120, 90],
                         max_length=1024)
    assert budget.longest == 650
    assert budget.longest_sample() == ("c", 560, 90)
    assert TokenBudget(ids=[], visual_tokens=[], text_tokens=[], max_length=8).longest_sample() == ("", 0, 0)
