"""A results folder like the quickstart writes (captions of bundled clips, scores, run records), made without models.

The captions are made up so that fine-tuning helps on some clips, hurts on one and changes nothing on others; the
viewer, page and notebook tests check what they show against these.
"""

import csv
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUM_FRAMES = 4


def bundled_clips(count: int) -> list[dict]:
    """The first `count` rows of test_videos/captions.csv: {"id", "video", "reference"}."""
    with open(ROOT / "test_videos" / "captions.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    return [{"id": Path(r["path"]).stem, "video": str(ROOT / "test_videos" / r["path"]), "reference": r["caption"]}
            for r in rows]


def made_up_captions(references: list[str]) -> dict[str, list[str]]:
    """Vanilla: noise except clip 2 (right); fine-tuned: right except clip 2 (wrong colour) and clip 4 (noise)."""
    vanilla = ["a a a a"] * len(references)
    vanilla[2] = references[2]
    tuned = list(references)
    tuned[2] = "a green blob sits still"
    tuned[4] = "a a a a"
    return {"vanilla": vanilla, "fine-tuned": tuned}


def write_results(folder: Path, count: int = 6) -> Path:
    """captions.csv, metrics.json, metrics.md, run.json and run/adapter/run.json (with a log_history) in `folder`."""
    from vidlm.viewing.compare import write_comparison
    from vidlm.metrics.scores import score_captions
    from vidlm.runtime.runinfo import write_run_record

    clips = bundled_clips(count)
    references = [c["reference"] for c in clips]
    captions = made_up_captions(references)
    scores = {n: score_captions(v, [[r] for r in references], meteor=False) for n, v in captions.items()}
    write_comparison(folder, [c["id"] for c in clips], [c["video"] for c in clips], references, captions, scores)
    write_run_record(folder / "run.json", {"num_frames": NUM_FRAMES})
    history = [{"loss": 2.0 / step, "step": step} for step in (2, 4, 6, 8)]
    history += [{"eval_BLEU-4": 0.1 * step, "eval_ROUGE-L": 0.05 * step, "eval_CIDEr": 0.5 * step, "step": step}
                for step in (4, 8)]
    write_run_record(folder / "run" / "adapter" / "run.json", {"num_frames": NUM_FRAMES}, log_history=history)
    return folder


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory):
    """A session-wide results folder of 6 bundled clips (see `write_results`); tests must not change it."""
    return write_results(tmp_path_factory.mktemp("results"))


def write_hostile_results(folder: Path) -> Path:
    """A results folder whose every field carries an HTML payload (browser.HOSTILE): model names and metric names
    (captions.csv column names), captions, references, ids, a video file name and a missing video's path.

    Read it with `read_comparison(folder, base=HOSTILE["base"], tuned=HOSTILE["tuned"])`; 3 videos, the second
    missing; per-sample metrics: CIDEr and the two hostile ones.
    """
    import shutil

    from helpers.browser import HOSTILE
    from vidlm.viewing.compare import write_comparison
    from vidlm.metrics.scores import CaptionScores

    clips = bundled_clips(3)
    folder.mkdir(parents=True, exist_ok=True)
    video = shutil.copy(clips[0]["video"], folder / (HOSTILE["file"] + ".mp4"))
    metrics = ["CIDEr", HOSTILE["metric"], HOSTILE["metric2"]]
    per_sample = {HOSTILE["base"]: [[1.0, 0.5, 0.0], [0.0, 0.5, 0.2], [2.0, 0.1, 0.4]],
                  HOSTILE["tuned"]: [[3.0, 0.2, 0.0], [0.0, 0.9, 0.1], [1.0, 0.1, 0.6]]}
    scores = {name: CaptionScores({m: sum(r[k] for r in rows) / 3 for k, m in enumerate(metrics)},
                                  [dict(zip(metrics, r)) for r in rows]) for name, rows in per_sample.items()}
    captions = {HOSTILE["base"]: [HOSTILE["caption"], "a a a", clips[2]["reference"]],
                HOSTILE["tuned"]: [HOSTILE["caption2"], clips[1]["reference"], "a a a"]}
    write_comparison(folder, [HOSTILE["id"], clips[1]["id"], clips[2]["id"]],
                     [str(video), HOSTILE["path"], clips[2]["video"]],
                     [HOSTILE["reference"], clips[1]["reference"], clips[2]["reference"]], captions, scores)
    (folder / "run.json").write_text(json.dumps({"config": {"num_frames": NUM_FRAMES}}))
    return folder
