import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest

VIDLM = shutil.which("vidlm", path=str(Path(sys.executable).parent))


def test_console_script_writes_a_tiny_checkpoint(tmp_path):
    assert VIDLM, "the `vidlm` console script is not installed next to this Python"
    done = subprocess.run([VIDLM, "tiny", "video-llava", str(tmp_path / "ckpt")], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(str(tmp_path / "ckpt"))
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model_type"] == "video_llava"
    assert (tmp_path / "ckpt" / "model.safetensors").exists()


def test_console_script_rejects_an_unknown_family(tmp_path):
    done = subprocess.run([VIDLM, "tiny", "llava", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice: 'llava'" in done.stderr


def test_synthetic_command_writes_both_splits(tmp_path):
    from vidlm.cli import main

    assert main(["synthetic", str(tmp_path), "--train", "3", "--test", "2"]) == 0
    for split, count in (("train", 3), ("test", 2)):
        rows = list(csv.DictReader(open(tmp_path / split / "captions.csv")))
        assert len(rows) == count and all((tmp_path / split / r["path"]).exists() for r in rows)


@pytest.mark.parametrize("family", ["llava-next-video", "video-llava"])
def test_python_function_and_cli_write_the_same_weights(tmp_path, family):
    from safetensors.torch import load_file

    from vidlm.cli import main
    from vidlm.demo.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(family, tmp_path / "a", seed=3)
    main(["tiny", family, str(tmp_path / "b"), "--seed", "3"])
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


# --- flags built from the configs; one-line user errors -------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    """A model folder (never loaded: every case here stops before) and a one-row captions CSV."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "a.mp4").write_bytes(b"\0" * 64)  # never decoded here; the CSV readers only skip missing or empty files
    (tmp_path / "train.csv").write_text("path,caption\na.mp4,a red ball\n")
    return tmp_path


@pytest.fixture
def no_loading(monkeypatch):
    """Loading weights or a processor fails the test; `finetune` records the config it was given instead of training."""
    import vidlm.models
    import vidlm.train

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    given = []

    def fake_finetune(config, samples, eval_samples=None, **kwargs):
        given.append((config, samples))
        return type("Result", (), {"adapter_dir": Path(config.output_dir) / "adapter"})()

    monkeypatch.setattr(vidlm.models, "load_model", refuse)
    monkeypatch.setattr(vidlm.models, "load_processor", refuse)
    monkeypatch.setattr(vidlm.train, "finetune", fake_finetune)
    return given


def test_flags_notebook_config_and_config_file_mean_the_same(files, no_loading, capsys):
    import yaml

    from vidlm.cli import main
    from vidlm.train import FinetuneConfig

    model, train = str(files / "model"), str(files / "train.csv")
    python = FinetuneConfig(model=model, dataset=train, num_frames=8, learning_rate=1e-4, train_projector=True,
                            resume="auto", max_length=None, extra_training_args={"report_to": "none"})
    settings = dict(model=model, dataset=train, num_frames=8, learning_rate="1e-4", train_projector=True,
                    resume="auto", max_length=None, extra_training_args={"report_to": "none"})
    (files / "run.yaml").write_text(yaml.safe_dump(settings))  # 1e-4 as YAML text: it reads it as a string
    (files / "run.json").write_text(json.dumps({**settings, "learning_rate": 1e-4, "num_frames": 2}))
    runs = [
        ["finetune", train, "--model", model, "--num-frames", "8", "--learning-rate", "1e-4", "--train-projector",
         "--resume", "auto", "--extra-training-args", '{"report_to": "none"}'],
        ["finetune", train, "--model", model, "--num_frames", "8", "--learning_rate=1e-4", "--train_projector",
         "--resume", "auto", "--max-length", "none", "--extra_training_args", '{"report_to": "none"}'],
        ["finetune", "--config", str(files / "run.yaml")],
        ["finetune", "--config", str(files / "run.json"), "--num-frames", "8"],  # the flag wins over the file
    ]
    for argv in runs:
        assert main(argv) == 0, argv
    assert capsys.readouterr().out.count(f"adapter in {Path('runs/finetune/adapter')}") == len(runs)
    assert [config for config, _ in no_loading] == [python] * len(runs)
    assert all(dataclasses.asdict(config) == dataclasses.asdict(python) for config, _ in no_loading)
    assert [s.answer for s in no_loading[0][1]] == ["a red ball"]


def run_main(argv, capsys):
    from vidlm.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def finetune_errors(files):
    """(argv, words the one line must hold) for user errors of `vidlm finetune`."""
    model, train = str(files / "model"), str(files / "train.csv")
    (files / "header_only.csv").write_text("path,caption\n")
    (files / "empty.csv").write_text("")
    (files / "columns.csv").write_text("video,text\na.mp4,x\n")
    (files / "unknown.yaml").write_text("model: m\nnum_frame: 8\nlr: 1\n")
    (files / "list.json").write_text("[1, 2]")
    (files / "broken.yaml").write_text("model: [unclosed\n")
    (files / "bad_value.yaml").write_text("model: m\nnum_frames: eight\n")
    return {
        "no model": (["finetune", train], ["--model is required", "hub id", "--config"]),
        "missing CSV": (["finetune", str(files / "nope.csv"), "--model", model], ["TRAIN.csv not found", "nope.csv"]),
        "CSV is a folder": (["finetune", str(files), "--model", model], ["is not a file", "captions CSV"]),
        "header-only CSV": (["finetune", str(files / "header_only.csv"), "--model", model],
                            ["header_only.csv has a header but no rows", "add one row per video"]),
        "empty CSV": (["finetune", str(files / "empty.csv"), "--model", model], ["empty.csv is empty", "a header line, then one row per video"]),
        "wrong columns": (["finetune", str(files / "columns.csv"), "--model", model],
                          ["columns.csv", "needs a 'path' column", "found ['video', 'text']"]),
        "no data": (["finetune", "--model", model], ["No training data", "TRAIN.csv"]),
        "missing eval CSV": (["finetune", train, "--model", model, "--eval-dataset", str(files / "e.csv")],
                             ["--eval-dataset not found", "e.csv"]),
        "model folder": (["finetune", train, "--model", str(files / "no_model")],
                         ["Model folder not found", "no_model", "hub id"]),
        "folder without config.json": (["finetune", train, "--model", str(files)], ["has no config.json"]),
        "negative lr": (["finetune", train, "--model", model, "--learning-rate", "-1"],
                        ["learning_rate must be > 0, got -1.0"]),
        "nothing to train": (["finetune", train, "--model", model, "--max-steps", "0", "--num-epochs", "0"],
                             ["Nothing to train", "max_steps > 0 or num_epochs > 0"]),
        "bad dropout": (["finetune", train, "--model", model, "--lora-dropout", "1.5"],
                        ["lora_dropout must be >= 0 and < 1, got 1.5"]),
        "not a number": (["finetune", train, "--model", model, "--num-frames", "eight"],
                         ["--num-frames: invalid int or none value: 'eight'", "--help"]),
        "bad choice": (["finetune", train, "--model", model, "--quantization", "16bit"],
                       ["invalid choice: '16bit'", "'4bit'"]),
        "unknown flag": (["finetune", train, "--model", model, "--num-frame", "8"],
                         ["unrecognized arguments: --num-frame 8", "vidlm finetune --help"]),
        "unknown key in file": (["finetune", train, "--config", str(files / "unknown.yaml")],
                                ["unknown setting(s) ['num_frame', 'lr']", "known: ['model', 'quantization'"]),
        "missing config file": (["finetune", train, "--config", str(files / "no.yaml")],
                                ["Config file not found", "no.yaml"]),
        "config not a mapping": (["finetune", train, "--config", str(files / "list.json")],
                                 ["must hold a mapping", "got list"]),
        "config not YAML": (["finetune", train, "--config", str(files / "broken.yaml")], ["is not valid YAML"]),
        "bad value in file": (["finetune", train, "--config", str(files / "bad_value.yaml")],
                              ["num_frames must be an integer or None, got 'eight'"]),
        "bad rank": (["finetune", train, "--model", model], ["RANK=3 and WORLD_SIZE=2"]),
    }


FINETUNE_ERRORS = ["no model", "missing CSV", "CSV is a folder", "header-only CSV", "empty CSV", "wrong columns",
                   "no data", "missing eval CSV", "model folder", "folder without config.json", "negative lr",
                   "nothing to train", "bad dropout", "not a number", "bad choice", "unknown flag",
                   "unknown key in file", "missing config file", "config not a mapping", "config not YAML",
                   "bad value in file", "bad rank"]


@pytest.mark.parametrize("case", FINETUNE_ERRORS)
def test_finetune_user_errors_are_one_line_with_exit_code_2(files, no_loading, capsys, monkeypatch, case):
    argv, words = finetune_errors(files)[case]
    if case == "bad rank":
        monkeypatch.setenv("RANK", "3")
        monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) if case in ("not a number", "bad choice", "unknown flag") else nullcontext():
        code, err = run_main(argv, capsys)
        assert code == 2
    err = err if case not in ("not a number", "bad choice", "unknown flag") else capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vidlm finetune: error: "), err
    assert all(w in err for w in words), err
    assert no_loading == []  # finetune was never called, nothing loaded


def test_argparse_errors_exit_with_code_2(files, capsys):
    from vidlm.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["finetune", str(files / "train.csv"), "--model", "m", "--batch-size", "x"])
    assert exit.value.code == 2


def test_debug_shows_the_traceback(files, no_loading):
    from vidlm.cli import main
    from vidlm.config import ConfigError

    with pytest.raises(ConfigError, match="learning_rate must be > 0"):
        main(["finetune", str(files / "train.csv"), "--model", str(files / "model"), "--learning-rate", "-1",
              "--debug"])


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "0"], ["batch_size must be >= 1, got 0"]),
    (["--prompt", "Hi.", "--prompt-name", "short"], ["not both"]),
    (["--config", "{dir}/c.json"], ["unknown setting(s) ['frames']", "'num_frames'"]),
])
def test_caption_setting_errors_are_one_line_before_loading(files, no_loading, capsys, argv, words):
    (files / "c.json").write_text('{"frames": 8}')
    (files / "videos.csv").write_text("path\na.mp4\n")
    argv = ["caption", str(files / "videos.csv"), "--output", str(files / "out.csv"), "--model",
            str(files / "model"), *[a.format(dir=files) for a in argv]]
    code, err = run_main(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("vidlm caption: error: ")
    assert all(w in err for w in words), err
    assert not (files / "out.csv").exists()


def test_console_script_user_error_has_no_traceback_and_debug_has_one(files):
    command = [VIDLM, "finetune", str(files / "train.csv"), "--model", str(files / "model"), "--lora-r", "0"]
    env = {"HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # this checkout's vidlm
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert (done.returncode, done.stderr) == (2, "vidlm finetune: error: lora_r must be >= 1, got 0\n")
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConfigError: lora_r must be >= 1" in debug.stderr


@pytest.mark.parametrize("command, config", [("finetune", "FinetuneConfig"), ("caption", "CaptionConfig"),
                                             ("tag", "TagConfig"), ("motion", "MotionConfig")])
def test_help_lists_every_field_with_its_type_and_default(command, config, capsys, monkeypatch):
    import vidlm.config
    from vidlm.cli import main

    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps at hyphens too: no wrapping, so texts compare whole

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(getattr(vidlm.config, config)):
        assert " ".join(f.metadata["help"].split()) in text, f.name
        positional = f.name in ("dataset", "input_csv")
        assert positional or f"--{f.name.replace('_', '-')}" in text, f.name
    if command in ("finetune", "caption"):
        assert "--num-frames INT frames taken from each video" in text and "[int or none; default: null]" in text
        assert "--quantization {4bit,8bit,none}" in text and '[4bit|8bit|none; default: "4bit"]' in text
        assert "--model ID_OR_PATH" in text and "[str; required]" in text
    if command == "motion":
        assert "--threshold FLOAT" in text and "[float; default: 0.25]" in text
    if command == "tag":
        assert "--key {objects,actions,both}" in text and '[objects|actions|both; default: "both"]' in text
    if command == "finetune":
        assert "--train-projector, --no-train-projector" in text and "[bool; default: false]" in text
        assert "--set" not in text
