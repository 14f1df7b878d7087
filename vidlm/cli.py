"""The `vidlm` command line: `vidlm tiny FAMILY OUTPUT_DIR`, `vidlm synthetic OUTPUT_DIR`."""

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

    args = parser.parse_args(argv)
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
