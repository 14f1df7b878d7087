"""What fits a GPU of a given size: `estimate_memory` from each reference checkpoint's hub config (the snapshots in
tests/hub_snapshots), QLoRA r=8, batch 1, gradient checkpointing, 64 text tokens, float16 (a T4's type).

    .venv/bin/python benchmarks/bench_memory.py             # a free Colab T4: 15 GiB
    .venv/bin/python benchmarks/bench_memory.py --gpu-gib 24

Nothing is loaded: each model is built on the meta device from its config (`vidlm.memory`). The activation part is
a formula not yet checked on a GPU (`benchmarks/bench_gpu.py` measures it), so the totals are estimates; the rows
print as the README's T4 table shows them.
"""

import argparse
import sys
from pathlib import Path

from record import default_path, recording

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "hub_snapshots"
# (label, hub id, frame counts, frame side for pixel-budget families)
CASES = [
    ("LLaVA-NeXT-Video-7B", "llava-hf/LLaVA-NeXT-Video-7B-hf", (8, 32), None),
    ("Video-LLaVA-7B", "LanguageBind/Video-LLaVA-7B-hf", (8,), None),
    ("LLaVA-OneVision-0.5B", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", (8, 32), None),
    ("LLaVA-OneVision-7B", "llava-hf/llava-onevision-qwen2-7b-ov-hf", (8,), None),
    ("Qwen2.5-VL-3B, 720p", "Qwen/Qwen2.5-VL-3B-Instruct", (8, 32), 720),
    ("Qwen2.5-VL-7B, 720p", "Qwen/Qwen2.5-VL-7B-Instruct", (8,), 720),
    ("Qwen3-VL-8B, 720p", "Qwen/Qwen3-VL-8B-Instruct", (8,), 720),
    ("InternVL3-1B", "OpenGVLab/InternVL3-1B-hf", (8,), None),
    ("InternVL3-8B", "OpenGVLab/InternVL3-8B-hf", (8,), None),
]


def rows(gpu_gib: float) -> list[dict]:
    from transformers import AutoConfig

    from vidlm.memory import GIB, estimate_memory

    out = []
    for label, hub_id, frame_counts, side in CASES:
        config = AutoConfig.from_pretrained(SNAPSHOTS / hub_id.replace("/", "--"))
        for frames in frame_counts:
            estimate = estimate_memory(config, num_frames=frames, frame_size=side, gpu_gib=gpu_gib, dtype="float16")
            out.append({"checkpoint": label, "hub_id": hub_id, "frames": frames, "total_gib": estimate.total / GIB,
                        "fits": estimate.fits})
    return out


def table(found: list[dict], gpu_gib: float) -> str:
    lines = [f"| checkpoint | frames | estimated total | fits {gpu_gib:g} GiB |", "|---|---:|---:|---|"]
    for row in found:
        lines.append(f"| {row['checkpoint']} | {row['frames']} | {row['total_gib']:.2f} GiB | "
                     f"{'yes' if row['fits'] else 'no'} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu-gib", type=float, default=15.0, help="the GPU's memory (default: a T4's 15 GiB)")
    parser.add_argument("--json", metavar="PATH", default=default_path("bench_memory"),
                        help="where to record the run (default: results/bench/bench_memory.json; '' for nowhere)")
    args = parser.parse_args()
    with recording("bench_memory", args.json) as record:
        found = rows(args.gpu_gib)
        print(table(found, args.gpu_gib))
        record.add(gpu_gib=args.gpu_gib, rows=found)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
