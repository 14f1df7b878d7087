"""The record written beside every output: resolved config, library versions, seed, and what the run measured.

Records get shared (attached to issues, uploaded with adapters), so values under secret-like keys (a hub token, a
password, an API key) are redacted as a record is written.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

# Whole words of a key (split at _, -, . and camelCase): "hub_token", "apiKey", "aws_secret_access_key" are secrets;
# "eval_max_new_tokens" and "keyframes" are not. "key" alone names a choice (`vidlm tag --key objects`) or a column; it
# is a secret only with another word ("api_key", "private_key"). A name ending in "env" names the environment variable
# that holds a secret ("api_key_env": "OPENAI_API_KEY"), not the secret.
_SECRET_WORDS = {"token", "password", "passwd", "secret", "apikey", "credential", "credentials", "auth"}
REDACTED = "<redacted>"
LIBRARIES = ("vidlm", "torch", "torchvision", "transformers", "peft", "bitsandbytes", "accelerate", "av", "numpy")


def library_versions() -> dict[str, str | None]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def is_secret_key(key) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key)).lower()) if w]
    if not words or words[-1] == "env":
        return False
    return any(word in _SECRET_WORDS for word in words) or ("key" in words and len(words) > 1)


def redact(value):
    """`value` with every value under a secret-like key (at any depth) replaced by "<redacted>"."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(k) and v not in (None, "") else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def write_run_record(path, config, **results) -> Path:
    """Write `{config, versions, created, **results}` as JSON to `path`, atomically and with secrets redacted (a
    dataclass config is expanded)."""
    from vidlm.runtime.atomic import write_text

    config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "versions": library_versions(),
        **results,
    }
    return write_text(path, json.dumps(redact(record), indent=2, default=str) + "\n")
