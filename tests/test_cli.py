import csv
import json
import shutil
import subprocess
import sys
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
    from vidlm.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(family, tmp_path / "a", seed=3)
    main(["tiny", family, str(tmp_path / "b"), "--seed", "3"])
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
