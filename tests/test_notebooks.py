"""The notebooks run headless under papermill with tiny parameters."""

import csv
import json
from pathlib import Path

import papermill

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_quickstart_runs_headless_and_writes_results(tmp_path):
    out = tmp_path / "results"
    papermill.execute_notebook(
        str(NOTEBOOKS / "01_quickstart.ipynb"), str(tmp_path / "executed.ipynb"), cwd=str(tmp_path),
        parameters=dict(train_clips=16, test_clips=4, max_steps=6, batch_size=4, warmup_steps=1,
                        output_dir=str(out), max_new_tokens=6),
        kernel_name="python3", progress_bar=False,
    )
    assert (tmp_path / "checkpoints" / "tiny-llava-next-video" / "model.safetensors").exists()
    rows = list(csv.DictReader(open(out / "captions.csv")))
    assert len(rows) == 4 and list(rows[0]) == ["id", "video", "reference", "vanilla", "fine-tuned"]
    assert all(r["reference"].startswith("a ") for r in rows)
    scores = json.loads((out / "metrics.json").read_text())
    assert set(scores) == {"vanilla", "fine-tuned"}
    assert {"BLEU-4", "colour", "shape", "direction", "exact"} <= set(scores["vanilla"])
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["max_steps"] == 6 and record["versions"]["transformers"]
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    shown = json.dumps([c.get("outputs", []) for c in executed["cells"]])
    assert "| metric | vanilla | fine-tuned |" in shown and "| video | reference |" in shown
