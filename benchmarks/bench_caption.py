"""Captioning throughput: a naive per-video loop vs `caption_csv` (batched generation, decoding in worker processes).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_caption.py [--videos 192] [--batch-size 16] [--max-new-tokens 32]

Both sides use the same tiny LLaVA-NeXT-Video checkpoint (built here, 4-bit NF4 by default), the same synthetic
clips, prompt, frame count and greedy generation config, and are timed without model loading: the naive loop loads,
processes and generates one video at a time; `caption_csv` reports its own captioning loop (worker start-up,
decoding, generation and writing the part file), and its end-to-end time is printed too. Medians over `--repeats`;
the script also checks that both give every video the same caption.
"""

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

from record import default_path, recording


def naive_captions(model, processor, videos, args) -> list[str]:
    """One video at a time: decode, process, generate."""
    from vidlm.captioning import generate_captions, generation_config
    from vidlm.collate import generation_batch
    from vidlm.families import family_of
    from vidlm.prompts import DEFAULT_PROMPT, format_prompt
    from vidlm.video.decode import load_video

    text = format_prompt(family_of(model.config), DEFAULT_PROMPT, processor=processor).text
    config = generation_config(processor, args.max_new_tokens)
    captions = []
    for video in videos:
        frames = load_video(video, num_frames=args.num_frames).frames
        batch = generation_batch(processor, [text], [frames])
        captions += generate_captions(model, processor, batch, config)
    return captions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=192)
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=None, help="caption_csv's decoding workers (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads, both sides (default: caption_csv's)")
    parser.add_argument("--quantization", default="4bit", choices=["4bit", "8bit", "none"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", default=default_path("bench_caption"),
                        help="where to record the run (default: results/bench/bench_caption.json; '' for nowhere)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_caption_") as tmp, recording("bench_caption", args.json) as record:
        return run(Path(tmp), args, record)


def run(root: Path, args, record) -> int:
    """Build the checkpoint and clips under `root`, time both sides `args.repeats` times, print the table."""
    import torch

    from vidlm.jobs.caption import CaptionConfig, caption_csv, default_parallelism
    from vidlm.models import load_model, load_processor
    from vidlm.demo.synthetic import make_split
    from vidlm.demo.tiny import make_tiny_checkpoint

    checkpoint = str(make_tiny_checkpoint("llava-next-video", root / "tiny"))
    source = make_split(root, "clips", args.videos, seed=0)
    videos = [str(source.parent / row["path"]) for row in csv.DictReader(open(source))]
    model, processor = load_model(checkpoint, quantization=args.quantization), load_processor(checkpoint)
    # The naive loop gets the torch threads caption_csv uses: on 2 busy cores 2 threads ran it 5-10x slower than 1.
    threads = args.threads or default_parallelism()[1]
    torch.set_num_threads(threads)

    naive_times, loop_times, total_times, same = [], [], [], []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        naive = naive_captions(model, processor, videos, args)
        naive_times.append(time.perf_counter() - start)

        config = CaptionConfig(str(source), str(root / f"captions_{repeat}.csv"), model=checkpoint,
                               quantization=args.quantization, num_frames=args.num_frames,
                               batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                               num_workers=args.num_workers, torch_threads=threads, progress=False)
        start = time.perf_counter()
        result = caption_csv(config)
        total_times.append(time.perf_counter() - start)
        loop_times.append(result.seconds)
        batched = [row["text"] for row in csv.DictReader(open(config.output_csv))]
        same.append(batched == naive)
        print(f"repeat {repeat + 1}: naive {args.videos / naive_times[-1]:.1f} videos/s, caption_csv "
              f"{args.videos / loop_times[-1]:.1f} videos/s (end to end {args.videos / total_times[-1]:.1f}), "
              f"same captions: {same[-1]}", file=sys.stderr)

    naive_rate = args.videos / statistics.median(naive_times)
    loop_rate = args.videos / statistics.median(loop_times)
    total_rate = args.videos / statistics.median(total_times)
    print(f"\n{args.videos} videos, {args.num_frames} frames, batch {args.batch_size}, max_new_tokens "
          f"{args.max_new_tokens}, {args.quantization}, {threads} torch thread(s), median of {args.repeats}:")
    print("| | naive loop | caption_csv | ratio |")
    print("|---|---|---|---|")
    print(f"| videos/s (model loaded) | {naive_rate:.1f} | {loop_rate:.1f} | {loop_rate / naive_rate:.1f}x |")
    print(f"| videos/s (caption_csv end to end: model load + merge) | {naive_rate:.1f} | {total_rate:.1f} | "
          f"{total_rate / naive_rate:.1f}x |")
    print(f"same caption for every video in every repeat: {all(same)}")
    record.add(videos=args.videos, threads=threads, naive_videos_per_s=naive_rate, loop_videos_per_s=loop_rate,
               end_to_end_videos_per_s=total_rate, naive_s=naive_times, loop_s=loop_times, end_to_end_s=total_times,
               same_captions=all(same))
    print(f"example caption: {naive[0]!r}")
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
