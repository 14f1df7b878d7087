"""The notebooks run headless under papermill with tiny parameters."""

import csv
import json
import shutil
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
    gifs = sorted((out / "gifs").glob("*.gif"))  # step 7: the clips as the models saw them, and the page
    assert [g.stem for g in gifs] == [r["id"] for r in rows] and sum(g.stat().st_size for g in gifs) < 200_000
    assert (out / "index.html").read_text().count('<li class="sample"') == 48

    # Same seed, second kernel: the same losses and the same scores, to the last bit.
    again = run_quickstart(tmp_path, "again")
    losses = [[h["loss"] for h in json.loads((o / "run" / "adapter" / "run.json").read_text())["log_history"]
               if "loss" in h] for o in (out, again)]
    assert len(losses[0]) == 6 and losses[0] == losses[1]
    assert json.loads((again / "metrics.json").read_text()) == scores
    assert [(again / "gifs" / g.name).read_bytes() for g in gifs] == [g.read_bytes() for g in gifs]
    assert (again / "index.html").read_text() == (out / "index.html").read_text()  # results/ does not churn


def run_notebook(name: str, tmp_path, **parameters) -> str:
    """Run notebooks/<name> headless in tmp_path; the executed cells' outputs as one JSON string."""
    executed = tmp_path / f"executed_{name}"
    papermill.execute_notebook(str(NOTEBOOKS / name), str(executed), cwd=str(tmp_path), parameters=parameters,
                               kernel_name="python3", progress_bar=False)
    return json.dumps([c.get("outputs", []) for c in json.loads(executed.read_text())["cells"]])


def test_render_results_notebook_writes_gifs_plots_and_the_page(results_dir, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(results_dir, folder)
    shown = run_notebook("02_render_results.ipynb", tmp_path, results_dir=str(folder), run_dir=str(folder / "run"),
                         size=32, show=2)
    gifs = sorted((folder / "gifs").glob("*.gif"))
    assert len(gifs) == 6 and all(g.read_bytes()[6:10] == bytes([32, 0, 32, 0]) for g in gifs)  # 32x32 px
    assert (folder / "training.png").stat().st_size > 0 and (folder / "scores.png").stat().st_size > 0
    assert (folder / "index.html").read_text().count('<li class="sample"') == 6
    assert shown.count("data:image/gif;base64,") == 2  # the gallery of `show` clips
    assert shown.count('"image/png"') == 2  # training curves and score bars
    assert "6 clips, models ['vanilla', 'fine-tuned'], 4 frames per clip" in shown


def test_compare_captions_notebook_shows_the_viewer(results_dir, tmp_path):
    from vidlm.compare import read_comparison

    comparison = read_comparison(results_dir)
    deltas = comparison.deltas("CIDEr")
    improved = sorted((i for i in range(len(deltas)) if deltas[i] > 0), key=lambda i: -deltas[i])
    shown = run_notebook("04_compare_captions.ipynb", tmp_path, results_dir=str(results_dir), show="improved")
    assert "application/vnd.jupyter.widget-view+json" in shown
    assert f"'position': '1 / {len(improved)}', 'id': '{comparison.ids[improved[0]]}'" in shown
    assert f"'position': '2 / {len(improved)}', 'id': '{comparison.ids[improved[1]]}'" in shown
    assert f"{comparison.tuned} is better on {len(improved)}, worse on 1, the same on 1" in shown
