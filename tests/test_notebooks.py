"""The notebooks run headless under papermill with tiny parameters."""

import csv
import json
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def run_quickstart(tmp_path, name: str) -> Path:
    out = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / "01_quickstart.ipynb"), str(tmp_path / f"{name}.ipynb"), cwd=str(tmp_path),
        parameters=dict(train_clips=16, max_steps=6, batch_size=16, warmup_steps=1, max_new_tokens=6,
                        train_dir=str(tmp_path / "data"), checkpoint_dir=str(tmp_path / "checkpoints"),
                        test_csv=str(ROOT / "test_videos" / "captions.csv"), output_dir=str(out)),
        kernel_name="python3", progress_bar=False,
    )
    return out


def test_quickstart_runs_headless_writes_results_and_reproduces(tmp_path):
    out = run_quickstart(tmp_path, "results")
    assert (tmp_path / "checkpoints" / "tiny-llava-next-video" / "model.safetensors").exists()
    rows = list(csv.DictReader(open(out / "captions.csv")))
    assert len(rows) == 48 and list(rows[0]) == ["id", "video", "reference", "vanilla", "fine-tuned"]
    bundled = list(csv.DictReader(open(ROOT / "test_videos" / "captions.csv")))
    assert [r["reference"] for r in rows] == [r["caption"] for r in bundled]  # the bundled held-out clips
    scores = json.loads((out / "metrics.json").read_text())
    assert set(scores) == {"vanilla", "fine-tuned"}
    assert {"BLEU-4", "colour", "shape", "direction", "exact"} <= set(scores["vanilla"])
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["max_steps"] == 6 and record["versions"]["transformers"]
    executed = json.loads((tmp_path / "results.ipynb").read_text())
    shown = json.dumps([c.get("outputs", []) for c in executed["cells"]])
    assert "| metric | vanilla | fine-tuned |" in shown and "| video | reference |" in shown

    # Same seed, second kernel: the same losses and the same scores, to the last bit.
    again = run_quickstart(tmp_path, "again")
    losses = [[h["loss"] for h in json.loads((o / "run" / "adapter" / "run.json").read_text())["log_history"]
               if "loss" in h] for o in (out, again)]
    assert len(losses[0]) == 6 and losses[0] == losses[1]
    assert json.loads((again / "metrics.json").read_text()) == scores
