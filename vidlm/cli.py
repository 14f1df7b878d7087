"""The `vidlm` command line: `vidlm tiny FAMILY OUTPUT_DIR`, `vidlm synthetic OUTPUT_DIR`,
`vidlm caption INPUT.csv --output OUT.csv --model ID_OR_PATH`, `vidlm merge INPUT.csv --output OUT.csv`,
`vidlm scan PATH...`, `vidlm finetune TRAIN.csv --set key=value ...` (also under torchrun / accelerate launch)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from vidlm.families import family_names

    parser = argparse.ArgumentParser(prog="vidlm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    tiny = commands.add_parser("tiny", help="write a tiny random checkpoint of a family (for tests and demos)")
    tiny.add_argument("family", choices=family_names())
    tiny.add_argument("output_dir")
    tiny.add_argument("--seed", type=int, default=0)

    synth = commands.add_parser("synthetic", help="write synthetic clips with captions (train/test splits)")
    synth.add_argument("output_dir")
    synth.add_argument("--train", type=int, default=256, help="clips in the train split")
    synth.add_argument("--test", type=int, default=48, help="clips in the test split")
    synth.add_argument("--seed", type=int, default=0)

    from vidlm.batch_captioning import add_arguments as add_caption_arguments

    caption = commands.add_parser("caption", help="caption every video of a CSV: batched, resumable, one part file "
                                  "per process (torchrun / accelerate launch), merged in input order")
    add_caption_arguments(caption)
    merge = commands.add_parser("merge", help="merge the part files of a `vidlm caption` run into its output")
    merge.add_argument("input_csv", metavar="INPUT.csv", help="the input CSV of the run")
    merge.add_argument("--output", dest="output_csv", required=True, help="the run's --output")

    scan = commands.add_parser("scan", help="check videos (files or folders) and report the unusable and damaged "
                               "ones and why; exit code 1 if any")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--workers", type=int, default=2, help="files checked at once, each in its own process")
    scan.add_argument("--quick", action="store_true", help="sample 8 frames instead of decoding every frame")
    scan.add_argument("--timeout", type=float, default=300.0, help="seconds one file may take")
    scan.add_argument("--csv", help="also write every file's result to this CSV")

    finetune = commands.add_parser("finetune", help="fine-tune with LoRA/QLoRA on a captions CSV (path, caption); "
                                   "on several GPUs: torchrun --nproc_per_node N -m vidlm.cli finetune ...")
    finetune.add_argument("dataset", metavar="TRAIN.csv")
    finetune.add_argument("--eval-dataset", metavar="EVAL.csv", help="captioned every eval_every_steps")
    finetune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="a FinetuneConfig field, e.g. --set model=llava-hf/LLaVA-NeXT-Video-7B-hf "
                          "--set max_steps=500 (values are read as JSON when they parse, else as text)")

    args = parser.parse_args(argv)
    if args.command == "finetune":
        from vidlm.data import read_captions_csv
        from vidlm.train import config_from_overrides, finetune as run_finetune

        config = config_from_overrides(args.overrides, dataset=args.dataset)
        evaluation = read_captions_csv(args.eval_dataset) if args.eval_dataset else None
        result = run_finetune(config, read_captions_csv(args.dataset), eval_samples=evaluation)
        print(f"adapter in {result.adapter_dir}")
        return 0
    if args.command == "scan":
        from vidlm.scan import report, scan_videos, write_report_csv

        results = scan_videos(args.paths, workers=args.workers, full=not args.quick, timeout=args.timeout)
        print(report(results))
        if args.csv:
            print(f"wrote {write_report_csv(results, args.csv)}")
        return 1 if any(r.status != "ok" for r in results) else 0
    if args.command in ("caption", "merge"):
        from vidlm.batch_captioning import run_cli

        return run_cli(args)
    if args.command == "tiny":
        from vidlm.tiny import make_tiny_checkpoint

        print(make_tiny_checkpoint(args.family, args.output_dir, seed=args.seed))
    elif args.command == "synthetic":
        from vidlm.synthetic import make_split

        for split, count in (("train", args.train), ("test", args.test)):
            print(make_split(args.output_dir, split, count, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
