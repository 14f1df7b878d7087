"""What a benchmark run leaves behind: results/bench/<script>.json with the command, date, machine, library versions,
everything it printed and its raw figures, so each figure the README shows can be traced to a run (the README test
`tests/benchmarks/test_readme_figures.py` fails on a table figure no committed record holds).

    with recording("bench_metrics", args.json) as record:
        ...print the table...
        record.add(rows=[...])  # raw figures, JSON-ready
"""

import contextlib
import io
import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results" / "bench"
PACKAGES = ("torch", "transformers", "av", "numpy", "peft", "bitsandbytes", "pycocoevalcap", "torchcodec", "decord",
            "opencv-python-headless")


def default_path(script: str) -> Path:
    return RESULTS / f"{script}.json"


def machine() -> dict:
    """The CPU, the cores this process may use and the load when the run began."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "load_1min": round(os.getloadavg()[0], 2), "system": platform.platform(),
            "python": platform.python_version()}


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


class Record:
    def __init__(self, script: str):
        self.data = {"script": f"benchmarks/{script}.py", "command": " ".join(["python", f"benchmarks/{script}.py",
                                                                                 *sys.argv[1:]]),
                     "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(),
                     "versions": versions(), "results": {}, "output": []}

    def add(self, **figures) -> None:
        """Raw figures (JSON-ready values) under `results`."""
        self.data["results"].update(figures)


class _Tee(io.TextIOBase):
    def __init__(self, stream, copy: io.StringIO):
        self.stream, self.copy = stream, copy

    def write(self, text):
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


@contextlib.contextmanager
def recording(script: str, path: str | os.PathLike | None):
    """Run the body with stdout copied; then write the record to `path` (nothing when `path` is None or "")."""
    record, copy = Record(script), io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, copy)):
        yield record
    if path:
        from vidlm.runtime.atomic import write_text

        record.data["output"] = copy.getvalue().splitlines()
        write_text(Path(path), json.dumps(record.data, indent=1, ensure_ascii=False, default=str) + "\n")
        print(f"recorded in {path}", file=sys.stderr)
