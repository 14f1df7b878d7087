"""benchmarks/bench_data.py runs (--dry-run: tiny sizes) and its table has every case × pipeline row."""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench_data", Path(__file__).parents[2] / "benchmarks" /
                                              "bench_data.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_data"] = bench
spec.loader.exec_module(bench)


def test_dry_run_table_has_every_row(capsys):
    text = bench.main(["--dry-run", "--step-rate", "0.58", "1000000", "--resize-check"])
    assert text in capsys.readouterr().out
    main_part, resize_part = text.split("Resize while decoding:")
    speed = [line for line in main_part.splitlines() if line.startswith("| ") and "tiny" in line]
    rows = {}
    for line in speed:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.setdefault(len(cells), []).append(cells)
    main_rows, worker_rows = rows[9], rows[5]
    labels = [bench.case_label(family, max(2, frames // 4), 32) for family, frames, _ in bench.CASES]
    expected = {(label, name) for label in labels for name in bench.PIPELINES}
    assert {(r[0], r[4]) for r in main_rows} == expected
    assert {(r[0], r[2]) for r in worker_rows} == expected
    by_worker = {(r[0], r[2]): r for r in worker_rows}
    for case, clip, shape, decoded, name, wall, cpu, ratio, per_core in main_rows:
        if case.split()[0] in ("llava-next-video", "video-llava", "llava-onevision", "internvl3"):
            frames = int(case.split()[1].rstrip("f"))
            assert shape == f"{frames}×3×32×32"  # the processor's real output at the dry run's size
        tutorial, rest = decoded.split(" / ")
        vidlm, kept = rest.split(" for ")
        assert int(vidlm) <= int(tutorial) and int(kept) <= int(vidlm)  # vidlm decodes fewer frames for as many
        assert float(wall) > 0 and float(cpu) > 0
        if name == "tutorial":
            assert ratio == per_core == "1.00×"
    for case, clip, name, slow, fast in worker_rows:
        assert slow == "1"  # every pipeline feeds 0.58 samples/s at these sizes from one worker
        assert int(fast) > 1  # nothing decodes a million samples/s: more workers are asked for
    # the summary: one row per case, the pipelines' figures as the full table has them
    by = {(r[0], r[4]): r for r in main_rows}
    assert [r[0] for r in rows[8]] == labels
    for case, clip, decoded, tutorial, vidlm, cached, per_core, workers in rows[8]:
        assert (tutorial, vidlm, cached) == tuple(by[case, name][5] for name in bench.PIPELINES)
        assert per_core == f"{by[case, 'vidlm'][8]} ({by[case, 'vidlm+cache'][8]})" and decoded == by[case, "vidlm"][3]
        assert workers == " / ".join(by_worker[case, "vidlm"][3:])
    checked = [line for line in resize_part.splitlines() if line.startswith("| ") and "px" in line]
    assert [line.split("|")[1].strip() for line in checked] == [
        label for label in labels if label.split()[0] in ("llava-next-video", "video-llava")]


def test_the_tutorial_reader_keeps_uniformly_spaced_frames_decoding_up_to_the_last(tmp_path):
    import numpy as np

    from vidlm.video.decode import load_video

    clip = bench.tiny_clip(tmp_path)  # 48 frames
    frames = bench.read_video_pyav(clip, 4)
    reference = load_video(clip, indices=[0, 12, 24, 36]).frames
    assert frames.shape == (4, 64, 96, 3)
    assert np.array_equal(frames, reference)
    assert bench.tutorial_decoded(clip, 4) == 37  # frames 0..36: it stops after the last wanted one


def test_workers_needed_rounds_up():
    assert bench.workers_needed(0.58, 2.0) == 1
    assert bench.workers_needed(2.9, 1.0) == 3
    assert bench.workers_needed(3.0, 1.0) == 3


def test_the_tutorial_collator_pads_the_ids_and_labels_only_the_padding_out(tmp_path):
    from vidlm.families import get_family

    processor, family = bench.real_processor("video-llava", 32), get_family("video-llava")
    clip = bench.tiny_clip(tmp_path)
    short, long = (bench.tutorial_sample(processor, family, f"USER: <video>{text} ASSISTANT: a cat", clip, 2)
                   for text in ("Describe.", "Describe the video."))
    batch = bench.tutorial_collate(processor, [short, long])
    width = long["input_ids"].shape[1]
    assert batch["input_ids"].shape == batch["labels"].shape == (2, width)
    assert batch["pixel_values_videos"].shape == (2, 2, 3, 32, 32)
    pad = processor.tokenizer.pad_token_id
    assert (batch["labels"] == -100).sum() == (batch["input_ids"] == pad).sum() == width - short["input_ids"].shape[1]
    assert batch["labels"][1].tolist() == long["input_ids"][0].tolist()  # the tutorial supervises every real token
