"""Frame sampling speed: vidlm vs the Hugging Face docs' `read_video_pyav` recipe vs decord vs torchcodec.

    .venv/bin/python benchmarks/bench_video.py            # peers that are installed: pip install 'vidlm[bench]'

Generates 2-minute H.264 MP4s (30 fps, 640x360, B-frames) with a keyframe every 250 frames (x264's default, long
GOP), every 60 frames (2 s, streaming-style) and every 12 frames (short GOP), plus a 20 s clip; asks each decoder for
the same uniformly spaced 8 and 32 frames (full size, RGB), opening the file in every call as a data loader does;
prints the median of repeated calls (the decoders take turns), the ratio to vidlm, and whether the frames equal the ffmpeg CLI's decode of the
same indices. `--quick` uses shorter videos and fewer repeats; `--calibrate` measures where seeking pays.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.hostile_videos import write_long_video  # noqa: E402

from vidlm.video.decode import load_video, uniform_indices  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30


def recipe(path, indices):
    """`read_video_pyav` as the transformers docs give it: seek to 0, decode until the last wanted index."""
    import av

    container = av.open(str(path))
    container.seek(0)
    frames, start, end = [], indices[0], indices[-1]
    for i, frame in enumerate(container.decode(video=0)):
        if i > end:
            break
        if i >= start and i in indices:
            frames.append(frame)
    container.close()
    return np.stack([x.to_ndarray(format="rgb24") for x in frames])


def vidlm_frames(path, indices):
    return load_video(path, indices=indices).frames


def decord_frames(path, indices):
    import decord

    return decord.VideoReader(str(path), num_threads=0).get_batch(list(indices)).asnumpy()


def torchcodec_frames(path, indices):
    from torchcodec.decoders import VideoDecoder

    return VideoDecoder(str(path), seek_mode="exact").get_frames_at(list(indices)).data.permute(0, 2, 3, 1).numpy()


def peers():
    found = {"vidlm": vidlm_frames, "HF docs recipe": recipe}
    for name, module, fn in (("decord", "decord", decord_frames), ("torchcodec", "torchcodec", torchcodec_frames)):
        try:
            __import__(module)
            found[name] = fn
        except Exception as err:  # noqa: BLE001 — a peer that does not install or import is reported, not fatal
            print(f"(skipping {name}: {type(err).__name__}: {err})")
    return found


def ffmpeg_reference(path, indices) -> np.ndarray:
    expr = "+".join(f"eq(n\\,{k})" for k in sorted(set(indices)))
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf", f"select={expr}",
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, HEIGHT, WIDTH, 3)


def median_times(decoders: dict, path, indices, repeats: int) -> dict:
    """{name: (median seconds, frames)}; the decoders take turns in every round, so drift hits all alike."""
    times = {name: [] for name in decoders}
    frames = {}
    for _ in range(repeats):
        for name, fn in decoders.items():
            start = time.perf_counter()
            frames[name] = fn(path, indices)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), frames[name]) for name in decoders}


def calibrate_seek_cost(repeats: int = 11) -> None:
    """Where seeking starts to pay: read frame K+1 after frame K-f (K a keyframe) by decoding on, or by seeking to K.

    The f where both cost the same, minus the one frame decoded after the seek, is what SEEK_COST_FRAMES stands for.
    """
    import vidlm.video.decode as video

    original, second = video._TimestampReader.fetch, {}

    def fetch(reader, target):  # the first wanted frame is always sought; the second as the experiment says
        reader.read["plan"] = "seek" if not reader.got else second["plan"]
        return original(reader, target)

    video._TimestampReader.fetch = fetch
    with tempfile.TemporaryDirectory() as tmp:
        path = write_long_video(Path(tmp) / "gop60.mp4", 60, FPS, 60, 2, WIDTH, HEIGHT)
        print("frames skipped | decode on: CPU ms | seek: CPU ms")
        for skipped in (1, 3, 5, 7, 9, 12, 16, 24):
            cpu = {}
            for plan in ("forward", "seek"):
                second["plan"] = plan
                times = []
                for _ in range(repeats):
                    start = time.process_time()
                    load_video(path, indices=[600 - skipped, 601])
                    times.append(time.process_time() - start)
                cpu[plan] = statistics.median(times) * 1000
            print(f"{skipped:>14} | {cpu['forward']:>17.1f} | {cpu['seek']:>12.1f}")
    video._TimestampReader.fetch = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s videos, one repeat (a smoke run)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calibrate", action="store_true", help="measure where seeking pays (SEEK_COST_FRAMES)")
    args = parser.parse_args()
    if args.calibrate:
        return calibrate_seek_cost()
    seconds, repeats = (30, 1) if args.quick else (120, args.repeats)
    decoders = peers()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        videos = {}
        for secs, keyint in ((seconds, 250), (seconds, 60), (seconds, 12), (20, 60)):
            label = f"{secs // 60} min, GOP {keyint}" if secs % 60 == 0 else f"{secs} s, GOP {keyint}"
            start = time.perf_counter()
            videos[label] = write_long_video(Path(tmp) / f"{keyint}_{secs}.mp4", secs, FPS, keyint, 2, WIDTH, HEIGHT)
            print(f"wrote {label} ({videos[label].stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.0f} s",
                  flush=True)
        for label, path in videos.items():
            total = load_video(path, indices=[0]).total_frames
            for count in (8, 32):
                indices = uniform_indices(total, count).tolist()
                reference = ffmpeg_reference(path, indices)
                plan = load_video(path, indices=indices).read
                row = {"video": label, "frames": count, "plan": f"{plan['seeks']} seeks, {plan['decoded']} decoded"}
                for name, (seconds_taken, frames) in median_times(decoders, path, indices, repeats).items():
                    exact = frames.shape == reference.shape and np.array_equal(frames, reference)
                    row[name] = (seconds_taken, exact)
                rows.append(row)
                print(_line(row, decoders), flush=True)
    print()
    print(_table(rows, decoders))


def _line(row, decoders) -> str:
    return f"{row['video']:>16} {row['frames']:>3} frames: " + ", ".join(
        f"{name} {row[name][0] * 1000:.0f} ms" for name in decoders)


def _table(rows, decoders) -> str:
    names = list(decoders)
    head = ["video", "frames", *[f"{n} (ms)" for n in names], *[f"{n} / vidlm" for n in names[1:]],
            "same frames as ffmpeg", "vidlm's plan"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        base = row["vidlm"][0]
        wrong = [n for n in names if not row[n][1]]
        exact = "all" if not wrong else "all but " + ", ".join(wrong)
        cells = [row["video"], str(row["frames"]), *[f"{row[n][0] * 1000:.0f}" for n in names],
                 *[f"{row[n][0] / base:.1f}x" for n in names[1:]], exact, row["plan"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
