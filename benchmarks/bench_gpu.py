"""The GPU numbers in one run: training memory and speed of the real architectures, the HF tutorial's recipe beside
vidlm's, batched vs one-at-a-time captioning, and each measured peak against vidlm.estimate_memory.

    python benchmarks/bench_gpu.py --output results/gpu_bench.md [--deadline 540]
    python benchmarks/bench_gpu.py --dry-run --output /tmp/gpu_dry.md   # tiny configs on CPU: checks the script

Made for one H200 with no internet inside a 10-minute window: nothing is downloaded (architectures are built from
configs with random weights by bench_train.py), frames are random tensors (the machine has no PyAV), and bitsandbytes
travels as a wheel:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_24_x86_64 --platform manylinux2014_x86_64 -d .whl bitsandbytes==0.50.2
    # on the machine (carry .whl):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
    PYTHONUNBUFFERED=1 python3 benchmarks/bench_gpu.py --output $OUT/gpu_bench.md --deadline 540

Each row is appended to the output file as soon as it is measured, and no new row starts after `--deadline` seconds,
so a run cut short still returns what it measured. Rows, in order of importance:
1. LLaVA-NeXT-Video-7B QLoRA, batch 1: 8 and 32 frames × gradient checkpointing on/off (the issue's 14 GiB goal is
   32 frames with checkpointing);
2. the HF tutorial's recipe on the same model: QLoRA nf4, r=8, 8 frames, batch 4 (its accumulation of 8 changes no
   step's memory or speed), checkpointing off as its notebook leaves it;
3. Video-LLaVA-7B at 8 frames; Qwen2.5-VL-7B, Qwen3-VL-8B, LLaVA-OneVision-7B, InternVL3-8B at 8 frames
   (checkpointing on);
4. captioning with LLaVA-NeXT-Video-7B in 4-bit: 8 clips of 8 frames, 32 new tokens each, one `generate` per clip vs
   one batched `generate` (left padding), videos/s.
Decoding on 16 cores is not here: the machine has no PyAV (only one of bitsandbytes and av fits a call).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (beside this file)

TRAIN_COLUMNS = ("family", "method", "frames", "batch", "tokens", "checkpointing", "peak GiB", "estimate GiB",
                 "estimate / peak", "samples/s")


def training_plan(dry_run: bool) -> list[dict]:
    frames = (4, 8) if dry_run else (8, 32)
    plan = [dict(arch="llava-next-video-7b", frames=f, checkpointing=c, batch=1)
            for c in (True, False) for f in frames]
    plan.append(dict(arch="llava-next-video-7b", frames=frames[0], checkpointing=False, batch=4,
                     label="HF tutorial recipe"))
    plan += [dict(arch=name, frames=frames[0], checkpointing=True, batch=1)
             for name in ("video-llava-7b", "qwen2.5-vl-7b", "qwen3-vl-8b", "llava-onevision-7b", "internvl3-8b")]
    return plan


def estimate_row(arch: str, frames: int, batch: int, checkpointing: bool, tiny: bool, tokens: int):
    from vidlm.memory import count_visual_tokens, estimate_memory

    config = bench_train.ARCHITECTURES[arch].config(tiny)
    frame_size = bench_train.frame_side(bench_train.ARCHITECTURES[arch], config)
    visual = count_visual_tokens(config, frames, frame_size)
    return estimate_memory(config, num_frames=frames, frame_size=frame_size, batch_size=batch,
                           text_tokens=tokens - visual, gradient_checkpointing=checkpointing,
                           dtype="float32" if tiny else "bfloat16")


def train_row(item: dict, steps: int, tiny: bool, device: str) -> dict:
    row = bench_train.measure(item["arch"], "4bit", item["frames"], item["checkpointing"], steps, tiny, device,
                              batch_size=item["batch"])
    if item.get("label"):
        row["method"] = item["label"]
    if "tokens" in row:
        estimate = estimate_row(item["arch"], item["frames"], item["batch"], item["checkpointing"], tiny,
                                row["tokens"])
        row["estimate GiB"] = f"{estimate.peak_allocated / 2**30:.3g}"
        if row.get("peak GiB", "").replace(".", "").isdigit():
            row["estimate / peak"] = f"{estimate.peak_allocated / 2**30 / float(row['peak GiB']):.2f}"
    return row


def captioning_rows(tiny: bool, device: str, clips: int = 8, frames: int = 8, new_tokens: int = 32) -> list[dict]:
    """Videos/s of one generate per clip vs one batched generate, LLaVA-NeXT-Video in 4-bit, random weights."""
    import torch

    import transformers

    # As vidlm captions with the vanilla model: the language model in NF4, the rest in bf16, no adapters.
    arch = bench_train.ARCHITECTURES["llava-next-video-7b"]
    dtype = torch.float32 if tiny else torch.bfloat16
    with torch.device(device):
        model = getattr(transformers, arch.model_class)(arch.config(tiny)).to(dtype)
    model = bench_train.quantize_language_model(model, dtype).eval()
    inputs, _ = bench_train.batch(model, "llava-next-video-7b", frames, device, batch_size=clips)
    inputs.pop("labels")
    # Random weights may pick EOS at any step: every caption gets exactly `new_tokens` tokens.
    settings = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    rows = []
    with torch.inference_mode():
        model.generate(**{k: v[:1] for k, v in inputs.items()}, **settings)  # warm-up
        for name, runs in (("one clip per generate", [slice(i, i + 1) for i in range(clips)]),
                           (f"batched ({clips} per generate)", [slice(0, clips)])):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            for part in runs:
                model.generate(**{k: v[part] for k, v in inputs.items()}, **settings)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rows.append({"captioning": name, "clips": clips, "frames": frames, "new tokens": new_tokens,
                         "videos/s": f"{clips / (time.perf_counter() - start):.2f}"})
    del model, inputs
    gc.collect()
    return rows


def header(dry_run: bool) -> str:
    import torch
    import transformers

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU dry run)"
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    note = "\nDry run: tiny configs on the CPU, not real numbers.\n" if dry_run else ""
    return (f"# vidlm GPU benchmark, {time.strftime('%Y-%m-%d')}, {gpu}\n\n{versions}\n{note}\n"
            "Random weights with each checkpoint's architecture; synthetic frames; AdamW; LoRA r=8 on the language "
            "model's linears; peak = torch.cuda.max_memory_allocated (model included); estimate = "
            "vidlm.estimate_memory's peak allocated.\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="markdown table written here, row by row")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps after one warm-up step")
    parser.add_argument("--deadline", type=float, default=540, help="seconds after which no new row starts")
    parser.add_argument("--dry-run", action="store_true", help="tiny configs on the CPU: check the script runs")
    args = parser.parse_args(argv)
    import torch

    if args.dry_run:
        device, steps = "cpu", 1
        torch.set_num_threads(1)
    elif torch.cuda.is_available():
        device, steps = "cuda:0", args.steps
    else:
        print("No GPU: use --dry-run to check the script on the CPU.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []

    def write(captions=()):
        text = header(args.dry_run) + "\n## Training (QLoRA)\n\n" + bench_train.table(rows, TRAIN_COLUMNS) + "\n"
        if captions:
            text += "\n## Captioning (LLaVA-NeXT-Video-7B, 4-bit)\n\n" + bench_train.table(
                list(captions), ("captioning", "clips", "frames", "new tokens", "videos/s")) + "\n"
        if skipped:
            text += f"\nNot measured (deadline of {args.deadline:.0f} s): {'; '.join(skipped)}\n"
        out.write_text(text)  # rewritten after every row: a run killed at its limit keeps what it measured

    for item in training_plan(args.dry_run):
        what = f"{item['arch']} {item['frames']} frames batch {item['batch']}"
        if time.perf_counter() - started > args.deadline:
            skipped.append(what)
            continue
        try:
            rows.append(train_row(item, steps, args.dry_run, device))
        except Exception as error:  # one architecture failing must not cost the others' numbers
            rows.append({"family": item["arch"], "frames": item["frames"], "batch": item["batch"],
                         "samples/s": f"error: {type(error).__name__}: {str(error)[:120]}"})
        print(rows[-1], flush=True)
        write()
    captions = []
    if time.perf_counter() - started > args.deadline:
        skipped.append("captioning")
    else:
        try:
            captions = captioning_rows(args.dry_run, device)
        except Exception as error:
            captions = [{"captioning": f"error: {type(error).__name__}: {str(error)[:120]}"}]
    write(captions)
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
