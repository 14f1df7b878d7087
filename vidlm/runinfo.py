"""The record written beside every output: resolved config, library versions, seed, and what the run measured."""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

LIBRARIES = ("vidlm", "torch", "torchvision", "transformers", "peft", "bitsandbytes", "accelerate", "av", "numpy")


def library_versions() -> dict[str, str | None]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_run_record(path, config, **results) -> Path:
    """Write `{config, versions, created, **results}` as JSON to `path` (a dataclass config is expanded)."""
    config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "versions": library_versions(),
        **results,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path
