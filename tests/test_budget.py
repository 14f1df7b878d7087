"""Captioning's token budget: a frame count whose clips exceed the model's context is refused before weights load."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.row_job_files import env
from vidlm.budget import check_before_loading
from vidlm.collate import TokenBudgetError, visual_tokens
from vidlm.families import get_family
from vidlm.jobs.caption import CaptionConfig, caption_csv
from vidlm.jobs.caption_files import CaptionError
from vidlm.models import load_config, load_processor
from vidlm.prompts import DEFAULT_PROMPT, format_prompt

BIN = Path(sys.executable).parent


def _no_weights(monkeypatch) -> list:
    """Record any weight loading (model or adapter); the processor (no weights) may load."""
    import vidlm.adapters
    import vidlm.models

    loads = []
    for module, name in ((vidlm.models, "load_model"), (vidlm.adapters, "load_adapter")):
        monkeypatch.setattr(module, name, lambda *a, name=name, **k: loads.append(name))
    return loads


@pytest.fixture(scope="module")
def llava(tiny_checkpoints):
    """The tiny LLaVA-NeXT-Video checkpoint, its processor, its context and the default prompt's text."""
    path = tiny_checkpoints["llava-next-video"]
    processor = load_processor(path)
    family = get_family("llava-next-video")
    return {"path": path, "processor": processor, "family": family,
            "context": load_config(path).text_config.max_position_embeddings,
            "text": format_prompt(family, DEFAULT_PROMPT, processor=processor).text}


def _check(llava, num_frames, max_new_tokens, videos=(("clip", "any.mp4"),)):
    return check_before_loading(llava["path"], llava["processor"], llava["family"], num_frames, llava["text"],
                                max_new_tokens, list(videos))


def test_the_budget_is_the_processors_count_against_the_context(llava):
    per_frame = visual_tokens(llava["processor"], llava["family"], 1, 64, 64)
    assert per_frame == 16  # 8×8 patches of the tiny 64 px frames, pooled by 2
    budget = _check(llava, 10, 64)
    text = len(llava["processor"].tokenizer(llava["text"])["input_ids"]) - 1  # the placeholder becomes the clip
    assert budget.totals == [10 * per_frame + text]
    assert budget.max_length == llava["context"] - 64


def test_the_fixes_the_message_suggests_pass_and_one_more_frame_does_not(llava):
    with pytest.raises(TokenBudgetError) as error:
        _check(llava, 80, 64)
    message = str(error.value)
    assert "clip is 1280 visual" in message and f"context of {llava['context']} tokens" in message
    frames = int(re.search(r"--num-frames (\d+)", message).group(1))
    room = int(re.search(r"--max-new-tokens (\d+)", message).group(1)) if "--max-new-tokens" in message else None
    _check(llava, frames, 64)  # fits
    with pytest.raises(TokenBudgetError):
        _check(llava, frames + 1, 64)
    assert room is None  # 80 frames alone exceed the context: only fewer frames help
    with pytest.raises(TokenBudgetError) as error:
        _check(llava, frames, 200)
    room = int(re.search(r"--max-new-tokens (\d+)", str(error.value)).group(1))
    _check(llava, frames, room)
    with pytest.raises(TokenBudgetError):
        _check(llava, frames, room + 1)


def test_caption_csv_refuses_before_loading_weights_and_names_the_row(llava, synthetic_data, tmp_path,
                                                                      monkeypatch):
    loads = _no_weights(monkeypatch)
    config = CaptionConfig(str(synthetic_data["test"]), str(tmp_path / "out.csv"), llava["path"], num_frames=80,
                           max_new_tokens=8, progress=False)
    with pytest.raises(CaptionError) as error:
        caption_csv(config)
    assert re.search(r"8 of 8 clips do not fit .* row 0 \(test_0000\.mp4\) is 1280 visual", str(error.value))
    assert loads == [] and not (tmp_path / "out.csv").exists()


def test_evaluation_refuses_before_loading_weights(llava, synthetic_data, tmp_path, monkeypatch):
    from vidlm.config import EvaluateConfig
    from vidlm.data.samples import read_captions_csv
    from vidlm.evaluation import evaluate_models

    loads = _no_weights(monkeypatch)
    samples = read_captions_csv(synthetic_data["test"])
    with pytest.raises(TokenBudgetError, match=r"do not fit the model's context .*--num-frames"):
        evaluate_models(EvaluateConfig(model=llava["path"], output_dir=str(tmp_path), num_frames=80), samples)
    assert loads == []


def test_the_cli_says_it_in_one_line(llava, synthetic_data, tmp_path):
    done = subprocess.run([str(BIN / "vidlm"), "caption", str(synthetic_data["test"]), "--output",
                           str(tmp_path / "out.csv"), "--model", llava["path"], "--num-frames", "80"],
                          env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--num-frames" in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_resizing_family_names_only_the_clips_too_large(tmp_path):
    """Qwen2.5-VL counts each clip at its own size: the large clip is refused, the small one is not named."""
    import av
    import numpy as np

    def clip(name, side):
        path = tmp_path / name
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=4)
            stream.width = stream.height = side
            stream.pix_fmt = "yuv420p"
            for _ in range(4):
                frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 128, np.uint8), format="rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        return path

    from vidlm.demo.tiny import make_tiny_checkpoint

    path = str(make_tiny_checkpoint("qwen2.5-vl", tmp_path / "qwen"))
    family = get_family("qwen2.5-vl")
    processor = load_processor(path)
    text = format_prompt(family, DEFAULT_PROMPT, processor=processor).text
    videos = [("small", clip("small.mp4", 56)), ("large", clip("large.mp4", 112))]
    small, large = (visual_tokens(processor, family, 2, s, s) for s in (56, 112))
    assert small < large
    context = load_config(path).text_config.max_position_embeddings
    frames = 2 * ((context - 64) // large + 1)  # enough temporal pairs that the large clip overflows
    with pytest.raises(TokenBudgetError) as error:
        check_before_loading(path, processor, family, frames, text, 64, videos)
    assert "1 of 2 clips" in str(error.value) and "large is" in str(error.value)
    assert "'small'" not in str(error.value)
