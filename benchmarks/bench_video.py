"""Frame sampling speed over a grid of encodes: vidlm vs torchcodec vs decord, and the same inside a DataLoader.

    .venv/bin/python benchmarks/bench_video.py --videos /tmp/bench_videos    # peers: pip install 'vidlm[bench]'

The grid: 640x360, 1280x720 and 1920x1080 H.264 at 30 fps with B-frames, a keyframe every 12, 60 and 250 frames,
20-second and 2-minute clips, and 8 and 32 uniformly spaced frames asked of each decoder at full size (RGB), the file
opened in every call as a data loader does. The decoders take turns in every round, so drift hits all alike; each cell
prints the medians, vidlm's speed relative to the best peer (best peer's time / vidlm's time: above 1 is faster), and
whether vidlm's frames equal the ffmpeg CLI's decode of the same indices. Then a DataLoader case: every clip of the
grid, 8 frames each, through one torch DataLoader with 2 workers per decoder, in clips per second.

`--videos DIR` keeps the encoded clips between runs. `--quick` uses tiny clips and one round (a smoke run, for
tests); `--calibrate` measures where seeking pays (`SEEK_COST_FRAMES`). The transformers docs' PyAV recipe is
compared in `bench_data.py`, where it belongs (it decodes everything up to the last wanted frame).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from record import default_path, recording

from vidlm.video.decode import load_video, uniform_indices

FPS = 30
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
QUICK_SIZES = {"54p": (96, 54), "72p": (128, 72), "108p": (192, 108)}
KEYINTS = (12, 60, 250)
COUNTS = (8, 32)


def vidlm_frames(path, indices):
    return load_video(path, indices=indices).frames


def torchcodec_frames(path, indices):
    from torchcodec.decoders import VideoDecoder

    return VideoDecoder(str(path), seek_mode="exact").get_frames_at(list(indices)).data.permute(0, 2, 3, 1).numpy()


def decord_frames(path, indices):
    import decord

    return decord.VideoReader(str(path), num_threads=0).get_batch(list(indices)).asnumpy()


def decoders() -> dict:
    """vidlm and the peers that import here (a peer that does not is reported, not fatal)."""
    found = {"vidlm": vidlm_frames}
    for name, fn in (("torchcodec", torchcodec_frames), ("decord", decord_frames)):
        try:
            __import__(name)
            found[name] = fn
        except Exception as err:  # noqa: BLE001
            print(f"(skipping {name}: {type(err).__name__}: {err})")
    return found


def write_clip(path: Path, width: int, height: int, seconds: int, keyint: int) -> Path:
    """H.264 (x264 veryfast, 2 B-frames, no scene cuts) of ffmpeg's moving test pattern, a keyframe every `keyint`."""
    if not path.exists():
        part = path.with_suffix(".part.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds}", "-c:v", "libx264",
                        "-preset", "veryfast", "-pix_fmt", "yuv420p", "-x264-params",
                        f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=2", str(part)], check=True)
        part.rename(path)
    return path


def ffmpeg_reference(path, indices, width, height) -> np.ndarray:
    """The ffmpeg CLI's frames `select=eq(n\\,K)`, in the order of `indices` (repeats included)."""
    unique = sorted(set(indices))
    expr = "+".join(f"eq(n\\,{k})" for k in unique)
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf", f"select={expr}",
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)
    return frames[np.searchsorted(unique, indices)] if len(frames) == len(unique) else frames


def median_times(fns: dict, path, indices, repeats: int) -> dict:
    """{name: median seconds}, the decoders taking turns in every round."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(path, indices)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def grid_cells(sizes: dict, durations: tuple, folder: Path):
    """(label, path, width, height, frames) for every cell; encodes the clips that are not in `folder` yet."""
    for label, (width, height) in sizes.items():
        for keyint in KEYINTS:
            for seconds in durations:
                start = time.perf_counter()
                path = write_clip(folder / f"{label}_gop{keyint}_{seconds}s.mp4", width, height, seconds, keyint)
                took = time.perf_counter() - start
                if took > 1:
                    print(f"encoded {path.name} in {took:.0f} s", flush=True)
                name = f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
                for count in COUNTS:
                    yield f"{label}, GOP {keyint}, {name}", path, width, height, count


def run_grid(fns: dict, sizes: dict, durations: tuple, folder: Path, repeats: int) -> list[dict]:
    rows = []
    for label, path, width, height, count in grid_cells(sizes, durations, folder):
        clip = load_video(path, num_frames=count)
        indices = clip.indices.tolist()
        exact = np.array_equal(clip.frames, ffmpeg_reference(path, indices, width, height))
        medians = median_times(fns, path, indices, repeats)
        peers = {name: t for name, t in medians.items() if name != "vidlm"}
        best = min(peers, key=peers.get) if peers else None
        row = {"video": label, "frames": count, "ms": {n: t * 1000 for n, t in medians.items()}, "exact": exact,
               "best": best, "ratio": peers[best] / medians["vidlm"] if peers else None,
               "plan": f"{clip.read['seeks']} seeks, {clip.read['decoded']} decoded, {clip.read['threads']} thr"}
        rows.append(row)
        print(_cells(row, fns), flush=True)
    return rows


class _Clips:
    """A torch Dataset: item i is 8 uniformly spaced frames of clip i, read with one decoder."""

    def __init__(self, reads, fn):
        self.reads, self.fn = reads, fn

    def __len__(self):
        return len(self.reads)

    def __getitem__(self, i):
        import torch

        path, indices = self.reads[i]
        return torch.from_numpy(np.ascontiguousarray(self.fn(path, indices)))


def run_loader(fns: dict, paths: list, rounds: int, workers: int = 2) -> dict:
    """{decoder: clips per second} through the same DataLoader (`workers` processes), medians of `rounds` turns."""
    from torch.utils.data import DataLoader

    # Frame counts read once up front, so that no decoder pays for them inside the timing.
    reads = [(path, uniform_indices(load_video(path, indices=[0]).total_frames, 8).tolist()) for path in paths]
    rates = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            loader = DataLoader(_Clips(reads, fn), batch_size=None, num_workers=workers, shuffle=False)
            start = time.perf_counter()
            count = sum(1 for _ in loader)
            rates[name].append(count / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def _cells(row, fns) -> str:
    ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
    return (f"| {row['video']} | {row['frames']} | " + " | ".join(f"{row['ms'][n]:.0f}" for n in fns) +
            f" | {ratio} | {'yes' if row['exact'] else 'NO'} | {row['plan']} |")


def report(rows, fns, loader: dict | None) -> str:
    head = ["video", "frames", *[f"{n} (ms)" for n in fns], "best peer / vidlm", "vidlm = ffmpeg", "vidlm's read"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *[_cells(row, fns) for row in rows]]
    ratios = [row["ratio"] for row in rows if row["ratio"] is not None]
    if ratios:
        geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        lines.append(f"\nvidlm vs the best peer: geometric mean {geomean:.2f}x over {len(ratios)} cells, "
                     f"min {min(ratios):.2f}x, max {max(ratios):.2f}x, {sum(r < 1 for r in ratios)} cells behind")
    lines.append(f"frames equal to ffmpeg's: {sum(row['exact'] for row in rows)} of {len(rows)} cells")
    if loader:
        base = loader["vidlm"]
        lines.append("DataLoader (2 workers, every clip, 8 frames): " + ", ".join(
            f"{n} {rate:.2f} clips/s" + ("" if n == "vidlm" else f" (vidlm {base / rate:.2f}x)")
            for n, rate in loader.items()))
    return "\n".join(lines)


def calibrate_seek_cost(folder: Path, repeats: int = 11) -> None:
    """Where seeking starts to pay: read frame K+1 after frame K-f (K a keyframe) by decoding on, or by seeking to K.

    The f where both cost the same, minus the one frame decoded after the seek, is what SEEK_COST_FRAMES stands for.
    """
    import vidlm.video.decode as video

    original, second = video._TimestampReader.fetch, {}

    def fetch(reader, target):  # the first wanted frame is always sought; the second as the experiment says
        reader.read["plan"] = "seek" if not reader.got else second["plan"]
        return original(reader, target)

    video._TimestampReader.fetch = fetch
    path = write_clip(folder / "360p_gop60_20s.mp4", 640, 360, 20, 60)
    print("frames skipped | decode on: CPU ms | seek: CPU ms")
    for skipped in (1, 3, 5, 7, 9, 12, 16, 24):
        cpu = {}
        for plan in ("forward", "seek"):
            second["plan"] = plan
            times = []
            for _ in range(repeats):
                start = time.process_time()
                load_video(path, indices=[300 - skipped, 301])
                times.append(time.process_time() - start)
            cpu[plan] = statistics.median(times) * 1000
        print(f"{skipped:>14} | {cpu['forward']:>17.1f} | {cpu['seek']:>12.1f}")
    video._TimestampReader.fetch = original


def main(argv=None) -> str | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny clips, one round (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per cell (medians)")
    parser.add_argument("--videos", type=Path, help="keep the encoded clips here (default: a temporary folder)")
    parser.add_argument("--only", default="", help="run only the cells whose label contains this, e.g. '1080p'")
    parser.add_argument("--no-loader", action="store_true", help="skip the DataLoader case")
    parser.add_argument("--calibrate", action="store_true", help="measure where seeking pays (SEEK_COST_FRAMES)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="where to record the run (default: results/bench/bench_video.json, none with --quick or "
                             "--only; '' for nowhere)")
    args = parser.parse_args(argv)
    path = (None if args.quick or args.only or args.calibrate else default_path("bench_video")) if args.json is None \
        else args.json
    with tempfile.TemporaryDirectory() as tmp, recording("bench_video", path) as record:
        folder = args.videos or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.calibrate:
            return calibrate_seek_cost(folder)
        sizes, durations, repeats = (QUICK_SIZES, (2, 6), 1) if args.quick else (SIZES, (20, 120), args.repeats)
        sizes = {label: size for label, size in sizes.items() if args.only.split(",")[0] in label or not args.only}
        fns = decoders()
        print("| video | frames | " + " | ".join(f"{n} (ms)" for n in fns) + " | best peer / vidlm | vidlm = ffmpeg "
              "| vidlm's read |", flush=True)
        rows = run_grid(fns, sizes, durations, folder, repeats)
        loader = None
        if not args.no_loader:
            paths = sorted({str(p) for _, p, *_ in grid_cells(sizes, durations, folder)})
            loader = run_loader(fns, paths, rounds=1 if args.quick else 3)
        text = report(rows, fns, loader)
        record.add(cells=rows, loader=loader)
        print()
        print(text)
    return text


if __name__ == "__main__":
    main()
