"""The committed hub snapshots (tests/hub_snapshots/<owner>--<name>/): the files of each family's hub checkpoints
that decide behaviour, each with its source in SOURCES.json, and an independent renderer of their chat templates.

`render` is plain jinja2 set up as transformers renders chat templates (a sandbox, `trim_blocks` and
`lstrip_blocks`, the `loopcontrols` extension, `raise_exception`, and `{% generation %}` blocks rendered as their
content): what the hub template produces, computed without vidlm's or transformers' chat code.
"""

import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hub_snapshots"


def folder(hub_id: str) -> Path:
    return ROOT / hub_id.replace("/", "--")


def snapshot_ids() -> list[str]:
    return sorted(json.loads((p / "SOURCES.json").read_text())["hub_id"] for p in ROOT.iterdir() if p.is_dir())


def read_json(hub_id: str, name: str) -> dict | None:
    path = folder(hub_id) / name
    return json.loads(path.read_text()) if path.is_file() else None


def chat_template(hub_id: str) -> str | None:
    """The hub's chat template text: chat_template.jinja, chat_template.json, or tokenizer_config.json's."""
    base = folder(hub_id)
    if (base / "chat_template.jinja").is_file():
        return (base / "chat_template.jinja").read_text()
    for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
        data = read_json(hub_id, name) or {}
        if data.get("chat_template"):
            return data["chat_template"]
    return None


def special_token(hub_id: str, role: str) -> str | None:
    """The token text of `role` ("eos_token", "pad_token", ...) in the snapshot's tokenizer_config.json."""
    value = (read_json(hub_id, "tokenizer_config.json") or {}).get(role)
    return value.get("content") if isinstance(value, dict) else value


@cache
def _environment():
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """`{% generation %}…{% endgeneration %}`: its content, unchanged."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_content"), [], [], body).set_lineno(lineno)

        def _content(self, caller):
            return caller()

    def raise_exception(message):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env


def render(template: str, messages: list[dict], add_generation_prompt: bool, **extra) -> str:
    return _environment().from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                       **extra)
