"""The notebooks run headless under papermill with tiny parameters."""

import ast
import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from helpers.models_fixtures import family_checkpoints  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def assigned_parameters(notebook: Path) -> dict:
    """{name: default as written} of every assignment in a notebook's `parameters` cell, read by Python's parser."""
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    return {node.targets[0].id: ast.get_source_segment(source, node.value) for node in ast.parse(source).body
            if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_papermill_sees_every_parameter_with_its_default(name):
    # What `papermill --help-notebook` lists; a parameter it misses is "Passed unknown parameter" under `-p`.
    inferred = papermill.inspect_notebook(str(NOTEBOOKS / name))
    assigned = assigned_parameters(NOTEBOOKS / name)
    assert len(assigned) >= 5
    assert {p: v["default"] for p, v in inferred.items()} == assigned


def cells(notebook: Path) -> list[dict]:
    return [{**c, "source": "".join(c["source"])} for c in json.loads(notebook.read_text())["cells"]]


def test_no_cell_is_repeated_across_notebooks_and_none_defines_functions():
    # Two notebooks with the same step, or a notebook with its own function, mean logic that belongs in vidlm.
    # Allowed in several: the Colab install cell and cells of imports only.
    seen, defined = {}, []
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        for index, cell in enumerate(cells(notebook)):
            where = f"{notebook.name} cell {index}"
            if cell["cell_type"] == "code":
                tree = ast.parse(cell["source"])
                defined += [f"{where}: {type(node).__name__} at line {node.lineno}" for node in ast.walk(tree)
                            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))]
                if cell["source"].startswith("# Colab only: install vidlm") or all(
                        isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body):
                    continue
            seen.setdefault(cell["source"].strip(), []).append(where)
    repeated = [places for places in seen.values() if len({p.split()[0] for p in places}) > 1]
    assert repeated == [] and defined == []


FINETUNE = "10_finetune.ipynb"
NOTEBOOK_ONLY = {"eval_dataset", "eval_limit", "torch_threads", "push_to_hub_repo", "hub_repo_id"}


def test_finetune_parameters_are_finetune_config_fields_with_its_defaults():
    from vidlm.config import FinetuneConfig

    settings = {f.name: f for f in dataclasses.fields(FinetuneConfig) if not f.metadata.get("deprecated")}
    written = {name: ast.literal_eval(value) for name, value in assigned_parameters(NOTEBOOKS / FINETUNE).items()}
    assert set(written) == set(settings) | NOTEBOOK_ONLY
    defaults = {name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                for name, f in settings.items()}
    # The same value and type as FinetuneConfig's default, but where the library has no default to offer.
    differing = {name for name in settings if (type(written[name]), written[name]) != (type(defaults[name]),
                                                                                        defaults[name])}
    assert differing == {"model", "dataset", "output_dir"}


def test_finetune_notebook_and_readme_say_which_line_picks_each_family():
    from vidlm.families import family_names, get_family

    header = cells(NOTEBOOKS / FINETUNE)[0]["source"]
    readme = (ROOT / "README.md").read_text()
    for family in family_names():
        line = f'model = "{get_family(family).hub_id}"'
        assert line in header and line in readme, family
    assert assigned_parameters(NOTEBOOKS / FINETUNE)["model"] == f'"{get_family("llava-next-video").hub_id}"'


def run_quickstart(tmp_path, name: str, **more) -> Path:
    out = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / "01_quickstart.ipynb"), str(tmp_path / f"{name}.ipynb"), cwd=str(tmp_path),
        parameters=dict(train_clips=16, max_steps=6, batch_size=16, warmup_steps=1, max_new_tokens=6,
                        train_dir=str(tmp_path / "data"), checkpoint_dir=str(tmp_path / "checkpoints"),
                        test_csv=str(ROOT / "test_videos" / "captions.csv"), output_dir=str(out), **more),
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
    page = (out / "index.html").read_text()
    assert page.count('<li class="sample"') == 48
    assert "random weights, never trained" in page and "Guessing gets 25% colour, 33% shape" in page

    # Same seed, second kernel: the same losses and the same scores, to the last bit.
    again = run_quickstart(tmp_path, "again")
    losses = [[h["loss"] for h in json.loads((o / "run" / "adapter" / "run.json").read_text())["log_history"]
               if "loss" in h] for o in (out, again)]
    assert len(losses[0]) == 6 and losses[0] == losses[1]
    assert json.loads((again / "metrics.json").read_text()) == scores
    assert [(again / "gifs" / g.name).read_bytes() for g in gifs] == [g.read_bytes() for g in gifs]
    assert (again / "index.html").read_text() == (out / "index.html").read_text()  # results/ does not churn


def test_quickstart_takes_another_family(tmp_path):
    # `-p family qwen2.5-vl`: the tiny checkpoint, the training and both captionings are Qwen2.5-VL's.
    out = run_quickstart(tmp_path, "qwen", family="qwen2.5-vl")
    checkpoint = tmp_path / "checkpoints" / "tiny-qwen2.5-vl"
    assert json.loads((checkpoint / "config.json").read_text())["model_type"] == "qwen2_5_vl"
    record = json.loads((out / "run" / "adapter" / "run.json").read_text())
    assert record["family"] == "qwen2.5-vl" and record["config"]["model"] == str(checkpoint)
    losses = [h["loss"] for h in record["log_history"] if "loss" in h]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses
    rows = list(csv.DictReader(open(out / "captions.csv")))
    assert len(rows) == 48 and all(r["vanilla"].strip() for r in rows)
    assert any(r["vanilla"] != r["fine-tuned"] for r in rows)  # six steps changed what the model says
    assert json.loads((out / "run.json").read_text())["family"] == "qwen2.5-vl"
    assert (out / "index.html").read_text().count('<li class="sample"') == 48


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
    from vidlm.viewing.compare import read_comparison

    comparison = read_comparison(results_dir)
    deltas = comparison.deltas("CIDEr")
    improved = sorted((i for i in range(len(deltas)) if deltas[i] > 0), key=lambda i: -deltas[i])
    shown = run_notebook("04_compare_captions.ipynb", tmp_path, results_dir=str(results_dir), show="improved")
    assert "application/vnd.jupyter.widget-view+json" in shown
    assert f"'position': '1 / {len(improved)}', 'id': '{comparison.ids[improved[0]]}'" in shown
    assert f"'position': '2 / {len(improved)}', 'id': '{comparison.ids[improved[1]]}'" in shown
    assert f"{comparison.tuned} is better on {len(improved)}, worse on 1, the same on 1" in shown


def test_data_exploration_notebook_on_synthetic_clips(tiny_checkpoints, tmp_path):
    shown = run_notebook("00_data_exploration.ipynb", tmp_path, synthetic_dir=str(tmp_path / "synthetic"),
                         synthetic_clips=6, model=tiny_checkpoints["llava-next-video"], num_frames=4, grid_videos=2,
                         grid_frames=3, gpu_gib=0.25)
    assert json.dumps("explore/captions.csv: 6 records → 6 samples, 0 skipped")[1:-1] in shown
    assert "| captions | 6 | 6 | 0.00 | 5 |" in shown  # source: the CSV name; 5 words per caption
    assert "6 samples, llava-next-video at 4 frames: 64 visual + " in shown and "0 do not fit max_length=1024" in shown
    assert shown.count('"image/png"') == 2  # the histograms and the frame grid
    # The memory table, at the longest sample's tokens (64 visual + its text), against a 0.25 GiB GPU: the CUDA
    # context reserve alone (0.5 GiB) exceeds it, so nothing vidlm can change fits.
    text = max(int(n) for n in re.findall(r"64 visual \+ (\d+)", shown))
    assert f"Estimated GPU memory (llava_next_video, 4bit, 4 frames, batch 1, {64 + text} tokens per clip)" in shown
    assert "of 0.2 GiB" in shown and "Does not fit. To fit:" in shown and "- a larger GPU" in shown
    assert "6 videos: 6 ok, 0 damaged, 0 unusable" in shown


def test_data_exploration_notebook_on_shot2story_fixtures(tiny_checkpoints, tmp_path):
    from helpers.source_fixtures import make_shot2story

    data = make_shot2story(tmp_path / "s2s")
    (data["videos"] / "junk.mp4").write_bytes(b"not a video" * 50)
    shown = run_notebook("00_data_exploration.ipynb", tmp_path, dataset_format="shot2story",
                         annotations=str(data["json"]),
                         loader_options={"video_dir": str(data["videos"]), "with_asr": True},
                         model=tiny_checkpoints["video-llava"], num_frames=8, max_length=534,
                         scan_dir=str(data["videos"]))
    assert json.dumps("20k_val.json: 6 records → 2 samples, 7 skipped")[1:-1] in shown
    assert "1#0: video not found" in shown
    assert "| shot2story | 2 | 2 | 0.00 | 4 |" in shown
    # 8 frames x 65 tokens + 14 or 24 text tokens (the second shot has its speech in the prompt).
    assert "2 samples, video-llava at 8 frames: 520 visual + 14" in shown and "up to 544" in shown
    assert "1 do not fit max_length=534 (e.g. ['clipA_8_24']); every sample fits with num_frames" in shown
    assert "unusable  " in shown and "junk.mp4" in shown and "clipE.mp4" in shown
    assert shown.count('"image/png"') == 2


TINY_FINETUNE = dict(lora_r=16, lora_alpha=32, lora_dropout=0.0, train_projector=True, learning_rate=2e-3,
                     projector_learning_rate=1e-2, max_steps=6, batch_size=8, gradient_accumulation_steps=1,
                     warmup_steps=1, gradient_checkpointing=False, eval_every_steps=3, eval_limit=4,
                     save_every_steps=3, logging_steps=1, eval_max_new_tokens=8, eval_batch_size=4, torch_threads=1)


# One notebook for every family: the model picks the family; 16 (4 x 4) and 65 (8 x 8 + 1) visual tokens per frame
# for the LLaVA ones; the newer families' counts (dynamic resolution, temporal pairs, timestamps) are asked of their
# processors.
@pytest.mark.parametrize("family, num_frames, visual_tokens", [
    ("llava-next-video", 4, 64), pytest.param("video-llava", 8, 520, marks=pytest.mark.slow),
    *(pytest.param(family, 4, None, marks=pytest.mark.slow)
      for family in ("qwen2.5-vl", "qwen3-vl", "llava-onevision", "smolvlm2", "internvl3"))])
def test_finetune_notebook_trains_saves_and_compares(family, num_frames, visual_tokens, family_checkpoints,
                                                     synthetic_data, tmp_path):
    if visual_tokens is None:  # the synthetic clips are 64 × 64
        from vidlm.collate import visual_tokens as count
        from vidlm.families import get_family
        from vidlm.models import load_processor

        visual_tokens = count(load_processor(family_checkpoints[family]), get_family(family), num_frames, 64, 64)
    out = tmp_path / "run"
    shown = run_notebook(FINETUNE, tmp_path, model=family_checkpoints[family], dataset=str(synthetic_data["train"]),
                         eval_dataset=str(synthetic_data["test"]), num_frames=num_frames, output_dir=str(out),
                         **TINY_FINETUNE)
    assert "32 training clips, 8 held-out clips" in shown
    # finetune's own check, before training: every clip's visual tokens as its processor expands them
    assert f"Token budget: 32 samples, {family} at {num_frames} frames: {visual_tokens} visual + " in shown
    record = json.loads((out / "adapter" / "run.json").read_text())
    assert record["family"] == family and record["config"]["num_frames"] == num_frames
    assert record["config"]["dataset"] == str(synthetic_data["train"]) and record["resumed_from"] is None
    history = record["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert [h["step"] for h in history if "eval_CIDEr" in h] == [3, 6]  # the eval callback ran twice
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-3", "checkpoint-6"]
    card = (out / "adapter" / "README.md").read_text()
    assert f"| frames per clip | {num_frames} |" in card and "| steps | 6 |" in card
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"vanilla", "fine-tuned"} and {"BLEU-4", "CIDEr"} <= set(metrics["vanilla"])
    assert "| metric | vanilla | fine-tuned |" in shown and '"image/png"' in shown  # scores and training curves
    # The loss is shown once per logged step: as text lines under papermill, not also in the Trainer's HTML table.
    assert [shown.count(f"step {step}/6  loss ") for step in range(1, 7)] == [1] * 6
    assert "Training Loss" not in shown
    rows = list(csv.DictReader(open(out / "eval" / "captions.csv")))
    assert len(rows) == 8 and any(r["vanilla"] != r["fine-tuned"] for r in rows)  # 6 steps changed the captions


def papermill_cli(notebook: str, executed: Path, cwd: Path, **parameters) -> str:
    """Run notebooks/<notebook> with papermill's command line, as the README says; its whole log (it must succeed)."""
    command = [sys.executable, "-m", "papermill", "--log-output", "--cwd", str(cwd), str(NOTEBOOKS / notebook),
               str(executed)]
    for name, value in parameters.items():
        command += ["-p", name, str(value)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    return log


# The one warning left in a papermill log: ipykernel 7.4 notes at every start that its local sockets are not
# encrypted (papermill offers no setting for another transport).
KERNEL_NOTICE = "[IPKernelApp] WARNING | Kernel is running over TCP without encryption."


@pytest.mark.slow
def test_finetune_notebook_runs_two_steps_from_the_command_line_and_means_what_the_cli_and_python_mean(
        tiny_checkpoints, synthetic_data, tmp_path):
    # `-p num_frames 4` here, `vidlm finetune --num-frames 4` and FinetuneConfig(num_frames=4) are one setting, and
    # everything left out defaults alike: the same resolved config in run.json, and the same adapter.
    # max_steps 2 is below the default logging_steps 10: the run logs no loss, and the notebook must still finish.
    from safetensors.torch import load_file

    from vidlm.config import FinetuneConfig

    model, train = tiny_checkpoints["llava-next-video"], str(synthetic_data["train"])
    for where in ("notebook", "cli"):
        (tmp_path / where).mkdir()
    log = papermill_cli(FINETUNE, tmp_path / "executed.ipynb", tmp_path / "notebook", model=model, dataset=train,
                        eval_dataset=synthetic_data["test"], num_frames=4, max_steps=2, torch_threads=1,
                        output_dir="run")
    cli = subprocess.run([sys.executable, "-m", "vidlm.cli", "finetune", train, "--model", model, "--num-frames", "4",
                          "--max-steps", "2", "--output-dir", "run"], cwd=tmp_path / "cli", capture_output=True,
                         text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert cli.returncode == 0, cli.stderr[-4000:]
    python = FinetuneConfig(model=model, dataset=train, num_frames=4, max_steps=2, output_dir="run")
    adapters = [tmp_path / where / "run" / "adapter" for where in ("notebook", "cli")]
    records = [json.loads((adapter / "run.json").read_text()) for adapter in adapters]
    assert records[0]["config"] == records[1]["config"] == json.loads(json.dumps(dataclasses.asdict(python)))
    assert records[0]["config"]["num_frames"] == 4 and records[0]["config"]["max_steps"] == 2
    weights = [load_file(adapter / "adapter_model.safetensors") for adapter in adapters]
    assert sorted(weights[0]) == sorted(weights[1])
    assert all(weights[0][name].equal(weights[1][name]) for name in weights[0])
    assert [h["step"] for h in records[0]["log_history"]] == [2] and "loss" not in records[0]["log_history"][0]
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    shown = json.dumps([c.get("outputs", []) for c in executed["cells"]])
    assert '"image/png"' in shown  # the plot cell drew its "nothing to plot yet" figure
    assert "| metric | vanilla | fine-tuned |" in shown  # evaluation and the model card cells ran after it
    assert len(list(csv.DictReader(open(tmp_path / "notebook" / "run" / "eval" / "captions.csv")))) == 8
    # Quiet and honest: bars are text that ends at 100%, and no line warns or errs but the kernel's own notice.
    assert "application/vnd.jupyter.widget-view+json" not in shown
    assert "Loading weights: 100%" in log and "captioning: 100%" in log
    noisy = [line for line in log.splitlines() if any(word in line for word in (
        "WARNING", "ERROR", "Warning", "Error", "deprecated", "KeyboardInterrupt", "unknown parameter",
        "Unable to parse", "gemm_4bit_forward"))]
    assert [line for line in noisy if not line.startswith(KERNEL_NOTICE)] == []
