"""How a config works: fields with a type, a default, help text and rules (`setting`), each checked when it is set
and the rules between fields after every change (`Config`), command-line text read as the field's type
(`parse_text`), settings files (`read_config_file`). The task configs are built on it in this package.

Written here rather than taken from `HfArgumentParser` or pydantic: HfArgumentParser checks nothing (types, ranges,
rules between fields) and pydantic would be a new dependency for what fits in this module.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import re
import types
import typing
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Literal, Union


class ConfigError(ValueError):
    """A setting that cannot work; the message names the field, the value and what is allowed."""


def setting(default=MISSING, help: str = "", *, factory=MISSING, **rules):
    """A config field: its default (none: required), help text and rules — `gt`, `ge`, `lt`, `le` (bounds),
    `choices` (values, or a function returning them, read when checked), `nonempty` (for text), `regex` (the text
    must compile), `metavar` (its name in `--help`)."""
    return field(default=default, default_factory=factory, metadata={"help": help, **rules})


def _describe(kind) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    return {int: "an integer", float: "a finite number", str: "text", bool: "true or false", dict: "a mapping",
            type(None): "None"}.get(kind, str(kind))


def _typed(kind, value):
    """`value` as `kind` (an int is a valid float and becomes one, a path becomes text), or raise TypeError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin in (Union, types.UnionType):
        for option in args:
            try:
                return _typed(option, value)
            except TypeError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is str:
        if isinstance(value, (str, os.PathLike)):  # a pathlib.Path for a folder or file setting
            return os.fspath(value)
    elif kind is type(None):
        if value is None:
            return value
    elif isinstance(kind, type) and isinstance(value, kind):
        return value
    raise TypeError(kind)


def parse_text(kind, text: str):
    """A value of type `kind` from command-line text: `8`, `2e-5`, `true`/`false`, `none` (where None is allowed),
    a JSON object for a mapping, or the text itself; ValueError when it reads as none of the types allowed."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if text in args:
            return text
    elif origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        for option in args:
            if option is not type(None):
                try:
                    return parse_text(option, text)
                except ValueError:
                    pass
    elif kind is bool:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.lower() in words:
            return words[text.lower()]
    elif kind is dict:
        value = json.loads(text)  # json.JSONDecodeError is a ValueError
        if isinstance(value, dict):
            return value
    elif kind in (int, float, str):
        return kind(text)
    raise ValueError(f"{text!r} is not {_describe(kind)}")


_BOUNDS = {"gt": (">", operator.gt), "ge": (">=", operator.ge), "lt": ("<", operator.lt), "le": ("<=", operator.le)}


@functools.cache
def field_types(cls) -> dict:
    """{field name: resolved type} of a config class."""
    return typing.get_type_hints(cls)


def check_field(cls, spec, value):
    """`value` checked against field `spec` of `cls` (type, then rules); returns it typed, else raises ConfigError."""
    name, rules = spec.name, spec.metadata
    try:
        value = _typed(field_types(cls)[name], value)
    except TypeError:
        raise ConfigError(f"{name} must be {_describe(field_types(cls)[name])}, got {value!r} "
                          f"({type(value).__name__})") from None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        bounds = [(symbol, holds, rules[key]) for key, (symbol, holds) in _BOUNDS.items() if key in rules]
        if not all(holds(value, limit) for _, holds, limit in bounds):
            allowed = " and ".join(f"{symbol} {limit}" for symbol, _, limit in bounds)
            raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    if isinstance(value, str):
        if rules.get("nonempty") and not value.strip():
            raise ConfigError(f"{name} must not be empty")
        if rules.get("regex"):
            try:
                re.compile(value)
            except re.error as err:
                raise ConfigError(f"{name} must be a regular expression, got {value!r} ({err})") from None
    choices = rules.get("choices")
    if choices is not None:
        choices = choices() if callable(choices) else choices
        if value not in choices:
            raise ConfigError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


class Config:
    """Base of the task configs: each field is checked as it is set, and once the config is made `check()` (the
    rules between fields) runs again after every change, which is undone when refused."""

    def __setattr__(self, name, value):
        spec = self.__dataclass_fields__.get(name)
        if spec is None:
            return object.__setattr__(self, name, value)
        value = check_field(type(self), spec, value)
        if not self.__dict__.get("_made"):  # still in __init__: __post_init__ checks the whole
            return object.__setattr__(self, name, value)
        before = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            self.check()
        except ConfigError:
            object.__setattr__(self, name, before)
            raise

    def __post_init__(self):
        self.check()
        object.__setattr__(self, "_made", True)

    def check(self) -> None:
        """Rules across fields; raise ConfigError."""

    @classmethod
    def from_namespace(cls, namespace):
        """The config made of the entries of `namespace` (a mapping) that are its fields; other names are ignored.

        For a notebook, whose `parameters` cell uses the fields' names next to its own (data paths, …):
        `config = FinetuneConfig.from_namespace(globals())`.
        """
        return cls(**{f.name: namespace[f.name] for f in fields(cls) if f.name in namespace})


def read_config_file(path) -> dict:
    """The mapping in a .yaml/.yml/.json config file (values not yet checked)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path} — pass a .yaml or .json file of settings")
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise ConfigError(f"Config file {path}: use a .yaml, .yml or .json file")
    except ValueError as err:  # json.JSONDecodeError
        raise ConfigError(f"Config file {path} is not valid JSON: {err}") from None
    except Exception as err:
        if type(err).__module__.startswith("yaml"):
            raise ConfigError(f"Config file {path} is not valid YAML: {' '.join(str(err).split())}") from None
        raise
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of settings (name: value), got "
                          f"{type(values).__name__}")
    return values


def known_keys(cls, values: dict, source) -> dict:
    """`values` if every key is a field of `cls`, else ConfigError naming the unknown keys and the known ones."""
    known = [f.name for f in fields(cls)]
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {unknown} for {cls.__name__}; known: {known}")
    return values


def model_source_problem(model: str, example: str = "llava-hf/LLaVA-NeXT-Video-7B-hf") -> str | None:
    """Why `model` (a hub id or a local folder) cannot be loaded, when that shows without loading it; else None.
    `example`: a hub id to suggest."""
    looks_local = model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model
    path = Path(model).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        return f"The model folder {model!r} has no config.json; pass a checkpoint folder or a hub id"
    if looks_local and not path.exists():
        return f"Model folder not found: {model!r}; pass a checkpoint folder or a hub id such as {example}"
    return None
