"""The `vidlm` command line: `vidlm tiny FAMILY OUTPUT_DIR`, `vidlm synthetic OUTPUT_DIR`,
`vidlm caption INPUT.csv --output OUT.csv --model ID_OR_PATH`, `vidlm tag CAPTIONS.csv --output OUT.csv --model ID`,
`vidlm merge INPUT.csv --output OUT.csv`, `vidlm scan PATH...`, `vidlm finetune TRAIN.csv --model ID_OR_PATH ...`
(also under torchrun / accelerate launch).

The flags of `caption`, `tag` and `finetune` are the fields of `CaptionConfig`, `TagConfig` and `FinetuneConfig`
(vidlm.config): `--num-frames 8` and `--num_frames 8` alike, booleans as `--flag/--no-flag`, and `--config
FILE.yaml|json` for settings kept in a file (flags given as well win). A user error prints one line and exits with
code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from vidlm.config import (ConfigError, check_field, field_types, known_keys, model_source_problem, parse_text,
                          read_config_file)
from vidlm.runtime.launch import LaunchError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block: the message says which flag; --help says the rest
        self.exit(2, f"{self.prog}: error: {message} — see `{self.prog} --help`\n")


def _type_text(kind) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return "|".join(map(str, args))
    if args:
        return " or ".join(_type_text(a) for a in args)
    return {type(None): "none", dict: "JSON object"}.get(kind, getattr(kind, "__name__", str(kind)))


def _converter(kind):
    def convert(text):
        return parse_text(kind, text)

    convert.__name__ = _type_text(kind)  # argparse names it in "invalid … value"
    return convert


def add_config_arguments(parser, cls, positional: dict[str, str] | None = None,
                         aliases: dict[str, list[str]] | None = None) -> None:
    """One argument per field of the config class `cls`, typed, with its help, type and default.

    positional: {field: METAVAR} for fields given by position; aliases: {field: extra flags}. Nothing gets a default
    here, so that the config file and the config's own defaults fill what the command line leaves out.
    """
    positional, aliases = positional or {}, aliases or {}
    flag = {f.name: positional.get(f.name) or [*aliases.get(f.name, []), "--" + f.name.replace("_", "-")][0]
            for f in fields(cls)}
    parser.set_defaults(config_flags=flag)  # named in "… is required"
    group = parser.add_argument_group(f"settings ({cls.__name__} fields; any of them may also come from --config)")
    for f in fields(cls):
        kind = field_types(cls)[f.name]
        if f.default is not MISSING:
            default = f"default: {json.dumps(f.default)}"
        elif f.default_factory is not MISSING:
            default = f"default: {json.dumps(f.default_factory())}"
        else:
            default = "required"
        text = f"{f.metadata['help']} [{_type_text(kind)}; {default}]".replace("%", "%%")
        if f.name in positional:
            group.add_argument(f.name, metavar=positional[f.name], nargs="?", type=_converter(kind),
                               default=argparse.SUPPRESS, help=text)
            continue
        names = list(dict.fromkeys([flag[f.name], "--" + f.name.replace("_", "-")]))
        if kind is bool:
            group.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=text)
            continue
        choices = f.metadata.get("choices")
        choices = sorted(choices() if callable(choices) else choices) if choices else None
        if typing.get_origin(kind) is typing.Literal:
            choices = list(typing.get_args(kind))
        plain = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]  # the metavar leaves out none
        metavar = None if choices else f.metadata.get("metavar") or " or ".join(_type_text(a) for a in plain).upper()
        convert = str if typing.get_origin(kind) is typing.Literal else _converter(kind)  # argparse names choices
        group.add_argument(*names, dest=f.name, type=convert, choices=choices, metavar=metavar,
                           default=argparse.SUPPRESS, help=text)
    parser.add_argument("--config", metavar="FILE", help="a .yaml or .json file of settings (the field names "
                        "below); flags given as well win over it")


def config_from_args(cls, args: argparse.Namespace):
    """The config built from `--config` (if any) overridden by the flags given; ConfigError names what is wrong."""
    values = {}
    if args.config:
        values = known_keys(cls, read_config_file(args.config), args.config)
        for f in fields(cls):
            if isinstance(values.get(f.name), str):  # YAML reads 2e-5 as text: read it as the field's type
                try:
                    check_field(cls, f, values[f.name])
                except ConfigError:
                    try:
                        values[f.name] = parse_text(field_types(cls)[f.name], values[f.name])
                    except ValueError:
                        pass  # construction names the field and the value
    values.update({f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})
    for f in fields(cls):
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{args.config_flags[f.name]} is required ({f.metadata['help']}); give it, or set "
                              f"{f.name} in a --config file")
    return cls(**values)


def _dashed(argv: list[str]) -> list[str]:
    """`--num_frames 8` → `--num-frames 8` (flag names only; `--` ends the flags)."""
    out = []
    for i, token in enumerate(argv):
        if token == "--":
            return out + argv[i:]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            token = name.replace("_", "-") + eq + value
        out.append(token)
    return out


def _samples(path: str, what: str):
    """The samples of a captions CSV, or ConfigError saying what is wrong with the file."""
    from vidlm.data.samples import read_captions_csv

    if not Path(path).exists():
        raise ConfigError(f"{what} not found: {path} — give a captions CSV with `path` and `caption` columns")
    if not Path(path).is_file():
        raise ConfigError(f"{what} {path} is not a file — give a captions CSV with `path` and `caption` columns")
    samples = read_captions_csv(path)
    if not samples:
        raise ConfigError(f"{what} {path} has no rows — add one row per video (path, caption)")
    return samples


def build_parser() -> argparse.ArgumentParser:
    from vidlm.config import CaptionConfig, FinetuneConfig, MotionConfig, TagConfig
    from vidlm.families import family_names

    parser = _Parser(prog="vidlm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    parser.commands = commands.choices
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="on an error, show the traceback")

    def command(name, help, **kwargs):
        return commands.add_parser(name, help=help, description=help, parents=[common], allow_abbrev=False,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)

    tiny = command("tiny", "write a tiny random checkpoint of a family (for tests and demos)")
    tiny.add_argument("family", choices=family_names())
    tiny.add_argument("output_dir")
    tiny.add_argument("--seed", type=int, default=0, metavar="INT")

    synth = command("synthetic", "write synthetic clips with captions (train/test splits)")
    synth.add_argument("output_dir")
    synth.add_argument("--train", type=int, default=256, metavar="INT", help="clips in the train split")
    synth.add_argument("--test", type=int, default=48, metavar="INT", help="clips in the test split")
    synth.add_argument("--seed", type=int, default=0, metavar="INT")

    caption = command("caption", "caption every video of a CSV: batched, resumable, one part file per process "
                      "(torchrun / accelerate launch), merged in input order")
    add_config_arguments(caption, CaptionConfig, positional={"input_csv": "INPUT.csv"},
                         aliases={"output_csv": ["--output"]})

    motion = command("motion", "tag every video of a CSV with its camera motion (cmotion: pan_left, tilt_up, "
                     "zoom_in, pan_left+zoom_in, static, …): resumable, one part file per process, merged in input "
                     "order")
    add_config_arguments(motion, MotionConfig, positional={"input_csv": "INPUT.csv"},
                         aliases={"output_csv": ["--output"]})

    tag = command("tag", "extract object and/or action tags from every caption of a CSV with a chat LLM: batched, "
                  "resumable, one part file per process (torchrun / accelerate launch), merged in input order")
    add_config_arguments(tag, TagConfig, positional={"input_csv": "INPUT.csv"}, aliases={"output_csv": ["--output"]})

    merge = command("merge", "merge the part files of a `vidlm caption` (or `vidlm tag`, `vidlm motion`) run into "
                    "its output")
    merge.add_argument("input_csv", metavar="INPUT.csv", help="the input CSV of the run")
    merge.add_argument("--output", dest="output_csv", required=True, help="the run's --output")

    scan = command("scan", "check videos (files or folders) and report the unusable and damaged ones and why; exit "
                   "code 1 if any")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--workers", type=int, default=2, metavar="INT", help="files checked at once, each in its own "
                      "process")
    scan.add_argument("--quick", action="store_true", help="sample 8 frames instead of decoding every frame")
    scan.add_argument("--timeout", type=float, default=300.0, metavar="FLOAT", help="seconds one file may take")
    scan.add_argument("--csv", help="also write every file's result to this CSV")

    finetune = command("finetune", "fine-tune with LoRA/QLoRA on a captions CSV (path, caption); on several GPUs: "
                       "torchrun --nproc_per_node N -m vidlm.cli finetune TRAIN.csv --model ...")
    add_config_arguments(finetune, FinetuneConfig, positional={"dataset": "TRAIN.csv"})
    finetune.add_argument("--eval-dataset", metavar="EVAL.csv", help="a captions CSV captioned every "
                          "eval_every_steps")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(_dashed(sys.argv[1:] if argv is None else list(argv)))
    if unknown:  # reported by the command's parser, so the message names the command
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return _run(args)
    except (ValueError, OSError, LaunchError) as err:  # bad settings, files, data or launch: what a user can fix
        if args.debug:
            raise
        print(f"vidlm {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "finetune":
        from vidlm.config import FinetuneConfig
        from vidlm.runtime.launch import process_info

        config = config_from_args(FinetuneConfig, args)
        if not config.dataset:
            raise ConfigError("No training data: give TRAIN.csv (a captions CSV with `path` and `caption` columns) "
                              "or set dataset in the --config file")
        rank = process_info().rank
        problem = model_source_problem(config.model)
        if problem:
            raise ConfigError(problem)
        train = _samples(config.dataset, "TRAIN.csv")
        evaluation = _samples(args.eval_dataset, "--eval-dataset") if args.eval_dataset else None
        from vidlm.train import finetune

        result = finetune(config, train, eval_samples=evaluation)
        if rank == 0:
            print(f"adapter in {result.adapter_dir}")
        return 0
    if args.command == "caption":
        from vidlm.jobs.caption import caption_csv
        from vidlm.config import CaptionConfig

        result = caption_csv(config_from_args(CaptionConfig, args))
        return _report_rows(result, "captioned", "videos", result.captioned, result.videos_per_s)
    if args.command == "motion":
        from vidlm.config import MotionConfig
        from vidlm.jobs.motion import motion_csv

        result = motion_csv(config_from_args(MotionConfig, args))
        return _report_rows(result, "tagged", "videos", result.processed, result.rows_per_s)
    if args.command == "tag":
        from vidlm.config import TagConfig
        from vidlm.jobs.tag import tag_csv

        result = tag_csv(config_from_args(TagConfig, args))
        return _report_rows(result, "tagged", "captions", result.processed, result.rows_per_s)
    if args.command == "merge":
        from vidlm.jobs.caption import merge_captions

        return _report_rows(merge_captions(args.input_csv, args.output_csv))
    if args.command == "scan":
        from vidlm.video.scan import report, scan_videos, write_report_csv

        results = scan_videos(args.paths, workers=args.workers, full=not args.quick, timeout=args.timeout)
        print(report(results))
        if args.csv:
            print(f"wrote {write_report_csv(results, args.csv)}")
        return 1 if any(r.status != "ok" for r in results) else 0
    if args.command == "tiny":
        from vidlm.demo.tiny import make_tiny_checkpoint

        print(make_tiny_checkpoint(args.family, args.output_dir, seed=args.seed))
    elif args.command == "synthetic":
        from vidlm.demo.synthetic import make_split

        for split, count in (("train", args.train), ("test", args.test)):
            print(make_split(args.output_dir, split, count, seed=args.seed))
    return 0


def _report_rows(result, verb: str = "", unit: str = "", processed: int = 0, per_s: float = 0.0) -> int:
    """The closing lines of a row job (on stderr, so stdout stays clean for pipes): work done, then the merge."""
    if verb:
        print(f"{verb} {processed} {unit} in {result.seconds:.1f} s ({per_s:.2f} {unit}/s)", file=sys.stderr)
    if result.merged:
        print(f"wrote {result.output}: {result.rows} rows, {result.ok} ok, {result.failed} failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
