"""The Shot2Story benchmark: both tasks captioned with a tiny checkpoint on a Shot2Story-format test split, scored with
vidlm.metrics.scores, and printed beside the published rows — by the function and by notebook 05 run headless."""

import csv
import json
from pathlib import Path

import papermill
import pytest
import torch

from helpers.coco_reference import coco_scores
from helpers.source_fixtures import make_shot2story_test
from vidlm.config import ConfigError
from vidlm.metrics.scores import score_captions
from vidlm.metrics.shot2story import Shot2StoryBenchConfig, benchmark_shot2story, benchmark_table

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_shot2story_benchmark.ipynb"
PUBLISHED_SHOTS = [
    "| Shot2Story (7B+), published | 10.7 | 16.2 | 29.6 | 37.4 | LAVIS + pycocoevalcap |",
    "| Shotluck Holmes 1.5B, published | 9.3 | 25.3 | 36.3 | 68.9 | cidereval + HF evaluate, 1 reference |",
    "| Shotluck Holmes 3.1B, published | 8.7 | 25.7 | 36.2 | 63.2 | cidereval + HF evaluate, 1 reference |",
]
PUBLISHED_SUMMARY = [
    "| Shot2Story (7B+), published | 11.7 | 19.7 | 26.8 | 8.6 | LAVIS + pycocoevalcap |",
    "| Shotluck Holmes 1.5B, published | 6.48 | 21.3 | 40.2 | 144.3 | cidereval + HF evaluate, 1 reference |",
    "| Shotluck Holmes 3.1B, published | 7.67 | 23.2 | 43 | 152.3 | cidereval + HF evaluate, 1 reference |",
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def written(folder: Path) -> tuple[list[str], list[list[str]]]:
    """The captions and references a task's captions.csv holds, in its row order."""
    with open(folder / "captions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["caption"] for r in rows], [[r["reference"]] for r in rows]


def vidlm_row(label: str, samples: int, scores: dict) -> str:
    values = " | ".join("—" if scores[m] is None else f"{100 * scores[m]:.2f}"
                        for m in ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr"))
    return f"| {label}, vidlm, {samples} samples | {values} | vidlm.metrics (= pycocoevalcap) |"


def test_the_table_puts_the_published_rows_above_vidlms_row():
    scores = {"BLEU-4": 0.1234, "METEOR": None, "ROUGE-L": 0.5, "CIDEr": 1.5}
    lines = benchmark_table("summary", scores, "7b | lora", samples=40).splitlines()
    assert lines[:4] == ["Shot2Story multi-shot summarization", "", "| model | B | M | R | C | scored with |",
                         "|---|---|---|---|---|---|"]
    assert lines[4:7] == PUBLISHED_SUMMARY
    assert lines[7] == "| 7b \\| lora, vidlm, 40 samples | 12.34 | — | 50.00 | 150.00 | vidlm.metrics (= pycocoevalcap) |"
    notes = "\n".join(lines[8:])
    assert "B = BLEU-4, M = METEOR, R = ROUGE-L, C = CIDEr, all × 100." in notes
    assert "Shotluck Holmes scored with cidereval and HF evaluate (nltk's METEOR" in notes
    assert benchmark_table("shots").splitlines()[4:8] == PUBLISHED_SHOTS + [""]  # published rows alone
    with pytest.raises(ValueError, match="task must be one of \\['shots', 'summary'\\], got 'shot'"):
        benchmark_table("shot")


def test_the_benchmark_scores_the_captions_it_wrote(tiny_checkpoints, tmp_path):
    data = make_shot2story_test(tmp_path / "s2s")
    config = Shot2StoryBenchConfig(str(data["json"]), str(data["videos"]), model=tiny_checkpoints["video-llava"],
                                   quantization="none", num_frames=8, max_new_tokens=6, summary_max_new_tokens=10,
                                   with_asr=True, meteor=False, output_dir=str(tmp_path / "out"))
    result = benchmark_shot2story(config)
    assert [s.id for s in result.samples["shots"]] == ["vidA_0_8", "vidA_8_24", "vidB_0_16", "vidC_0_10",
                                                       "vidC_10_20", "vidC_20_32"]
    assert [s.id for s in result.samples["summary"]] == ["0", "1", "2"]
    assert result.samples["shots"][2].instruction == 'Describe the video. What is said in it: "look at it"'
    assert [s.reason for s in result.reports["shots"].skipped] == ["video not found"]  # the record without its clip
    for task, count in (("shots", 6), ("summary", 3)):
        captions, references = written(tmp_path / "out" / task)
        assert captions == result.captions[task] and len(captions) == count
        assert references == [[s.answer] for s in result.samples[task]]
        again = score_captions(captions, references, meteor=False)
        assert json.loads((tmp_path / "out" / task / "metrics.json").read_text())["caption"] == dict(again)
        assert vidlm_row("video-llava", count, again) in result.tables[task].splitlines()
    assert (tmp_path / "out" / "tables.md").read_text() == "\n\n".join(result.tables.values()) + "\n"
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["samples"] == {"shots": 6, "summary": 3} and record["config"]["with_asr"] is True
    assert record["prompts"] == {"shots": "Describe the video.",
                                 "summary": "Describe the video in detail, shot by shot."}


def test_one_task_a_limit_and_a_named_prompt(tiny_checkpoints, tmp_path):
    data = make_shot2story_test(tmp_path / "s2s")
    config = Shot2StoryBenchConfig(str(data["json"]), str(data["videos"]), model=tiny_checkpoints["llava-next-video"],
                                   quantization="none", num_frames=4, max_new_tokens=4, tasks="summary", limit=2,
                                   prompt_name="summary", meteor=False, output_dir=str(tmp_path / "out"))
    result = benchmark_shot2story(config)
    assert list(result.tables) == ["summary"] and [s.id for s in result.samples["summary"]] == ["0", "1"]
    assert {s.instruction for s in result.samples["summary"]} == {
        "Summarize what happens in the video from beginning to end."}
    assert not (tmp_path / "out" / "shots").exists()


def test_bad_settings_fail_before_any_weights_load(tmp_path, monkeypatch):
    import vidlm.models

    monkeypatch.setattr(vidlm.models, "load_model", lambda *a, **k: pytest.fail("weights were loaded"))
    monkeypatch.setattr(vidlm.models, "load_processor", lambda *a, **k: pytest.fail("processor was loaded"))
    data = make_shot2story_test(tmp_path / "s2s")
    with pytest.raises(FileNotFoundError, match="No LoRA adapter in"):
        benchmark_shot2story(Shot2StoryBenchConfig(str(data["json"]), str(data["videos"]), model="m",
                                                   adapter=str(tmp_path)))
    with pytest.raises(ValueError, match="Model folder not found: '/no/such/model'"):
        benchmark_shot2story(Shot2StoryBenchConfig(str(data["json"]), str(data["videos"]), model="/no/such/model"))
    assert not (data["videos"] / "shots").exists()  # refused before any shot was cut
    with pytest.raises(ValueError, match="No single-shot captioning samples in .*20k_test.json"):
        benchmark_shot2story(Shot2StoryBenchConfig(str(data["json"]), str(tmp_path / "elsewhere"), model="m"))
    with pytest.raises(ConfigError, match="tasks must be one of"):
        Shot2StoryBenchConfig("a.json", "videos", model="m", tasks="captions")
    with pytest.raises(ConfigError, match="limit must be >= 1, got 0"):
        Shot2StoryBenchConfig("a.json", "videos", model="m", limit=0)


def printed(executed: Path) -> str:
    """Everything the executed notebook's cells printed (stream outputs), as one text."""
    cells = json.loads(executed.read_text())["cells"]
    return "".join("".join(o["text"]) for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")


@pytest.mark.slow
def test_the_notebook_prints_the_published_rows_beside_vidlms(tiny_checkpoints, trained, tmp_path):
    from vidlm.metrics.scores import meteor_available

    data = make_shot2story_test(tmp_path / "s2s")
    result, _ = trained
    out = tmp_path / "bench"
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
        parameters=dict(annotations=str(data["json"]), video_dir=str(data["videos"]),
                        model=tiny_checkpoints["llava-next-video"], adapter=str(result.adapter_dir), num_frames=4,
                        max_new_tokens=8, summary_max_new_tokens=12, show=2, output_dir=str(out)))
    text = printed(executed)
    lines = text.splitlines()
    assert "20k_test.json: 4 records → 6 samples, 1 skipped (1 video not found)" in text
    for task, title, published, count in (("shots", "Shot2Story single-shot captioning", PUBLISHED_SHOTS, 6),
                                          ("summary", "Shot2Story multi-shot summarization", PUBLISHED_SUMMARY, 3)):
        captions, references = written(out / task)
        assert len(captions) == count
        scores = score_captions(captions, references)  # what vidlm.metrics.scores gives for the captions written
        assert (scores["METEOR"] is None) == (meteor_available() is not None)
        start = lines.index(title)
        assert lines[start + 2:start + 8] == ["| model | B | M | R | C | scored with |", "|---|---|---|---|---|---|",
                                              *published, vidlm_row("llava-next-video + adapter", count, scores)]
        # and independently: the row's figures are pycocoevalcap's on the captions the notebook wrote (printed with
        # two decimals of 100 x score; vidlm equals pycocoevalcap within 1e-4)
        reference, _ = coco_scores(captions, references)
        printed_row = [cell.strip() for cell in lines[start + 7].split("|")[2:6]]
        for metric, cell in zip(("BLEU-4", "METEOR", "ROUGE-L", "CIDEr"), printed_row):
            if cell != "—":
                assert float(cell) == pytest.approx(100 * reference[metric], abs=0.011), (task, metric)
        assert json.loads((out / task / "metrics.json").read_text())["caption"] == dict(scores)
    assert "- Shotluck Holmes scored with cidereval and HF evaluate" in text
    shown = json.dumps([c.get("outputs", []) for c in json.loads(executed.read_text())["cells"]])
    assert shown.count("| video | reference | caption |") == 2  # step 3: captions beside references, per task
