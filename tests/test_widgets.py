"""The side-by-side viewer shows the right captions, navigates, sorts and filters by per-sample deltas."""

from pathlib import Path

import pytest

from comparison_fixtures import NUM_FRAMES, bundled_clips
from vidlm.compare import make_comparison
from vidlm.gif import render_gif, write_gif
from vidlm.metrics import CaptionScores
from vidlm.widgets import CaptionViewer

# Per-sample CIDEr chosen so every ordering is known: deltas +2, 0, −1, +5, 0 (BLEU-4 deltas the other way round).
BASE_CIDER, TUNED_CIDER = [1.0, 0.0, 2.0, 0.0, 3.0], [3.0, 0.0, 1.0, 5.0, 3.0]
BASE_BLEU, TUNED_BLEU = [0.5, 0.0, 0.1, 0.9, 0.2], [0.1, 0.0, 0.6, 0.4, 0.2]


def scores(cider, bleu):
    return CaptionScores({"CIDEr": sum(cider) / len(cider), "BLEU-4": sum(bleu) / len(bleu)},
                         [{"BLEU-4": b, "CIDEr": c} for b, c in zip(bleu, cider)])


@pytest.fixture
def comparison():
    clips = bundled_clips(5)
    captions = {"vanilla": ["<script>alert(1)</script>", "a a a", "a blue square moves up", "x", "a & b"],
                "fine-tuned": [c["reference"] for c in clips]}
    return make_comparison([c["id"] for c in clips], [c["video"] for c in clips], [c["reference"] for c in clips],
                           captions, {"vanilla": scores(BASE_CIDER, BASE_BLEU),
                                      "fine-tuned": scores(TUNED_CIDER, TUNED_BLEU)}, num_frames=NUM_FRAMES)


def test_viewer_shows_each_videos_gif_reference_and_captions(comparison):
    viewer = CaptionViewer(comparison)
    for k in range(len(comparison)):
        assert viewer.current == k and viewer.index == k
        shown = viewer.shown()
        assert shown["position"] == f"{k + 1} / 5"
        assert shown["id"] == comparison.ids[k]
        assert shown["reference"] == comparison.references[k][0]
        assert shown["vanilla"] == comparison.captions["vanilla"][k]
        assert shown["fine-tuned"] == comparison.captions["fine-tuned"][k]
        delta = TUNED_CIDER[k] - BASE_CIDER[k]
        assert f"CIDEr {BASE_CIDER[k]:.3f} {TUNED_CIDER[k]:.3f} {delta:+.3f}" in shown["deltas"]
        # The GIF is the one of the frames the model saw (same sampling), timestamped.
        assert viewer.image.value == render_gif(comparison.videos[k], num_frames=NUM_FRAMES).data
        viewer.next()
    # Model output is text: markup in a caption is escaped in the widget, shown literally.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in viewer.caption_widgets["vanilla"].value
    assert "<script>" not in viewer.caption_widgets["vanilla"].value


def test_next_and_previous_wrap_around_and_buttons_do_the_same(comparison):
    viewer = CaptionViewer(comparison)
    assert viewer.prev() == 4 and viewer.shown()["position"] == "5 / 5"  # before the first: the last
    assert viewer.next() == 0 and viewer.shown()["id"] == comparison.ids[0]  # after the last: the first
    viewer.next_button.click()
    viewer.next_button.click()
    assert viewer.current == 2
    viewer.previous_button.click()
    assert viewer.current == 1 and viewer.shown()["vanilla"] == "a a a"
    assert viewer.go(13) == 3  # wraps too


def test_sorting_by_delta_orders_videos_and_follows_the_dropdown(comparison):
    viewer = CaptionViewer(comparison)
    assert viewer.sort_by("CIDEr delta") == [3, 0, 1, 4, 2]  # +5, +2, 0, 0 (ties keep their order), −1
    assert viewer.current == 3 and viewer.shown()["id"] == comparison.ids[3]
    assert viewer.sort_dropdown.value == ("CIDEr delta", True)
    assert viewer.sort_by("CIDEr delta", descending=False) == [2, 1, 4, 0, 3]
    viewer.sort_dropdown.value = ("BLEU-4 delta", True)  # what picking it in the drop-down does
    assert viewer.order == [2, 1, 4, 0, 3] and viewer.metric == "BLEU-4"  # +0.5, 0, 0, −0.4, −0.5
    assert viewer.sort_by("id", descending=True) == [4, 3, 2, 1, 0]
    assert viewer.sort_by("order") == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"Cannot sort by 'METEOR delta'.*'CIDEr delta'"):
        viewer.sort_by("METEOR delta")


def test_filtering_by_delta_selects_improved_worse_and_unchanged(comparison):
    viewer = CaptionViewer(comparison, metric="CIDEr")
    assert viewer.filter_by("improved") == [0, 3]
    assert viewer.shown()["position"] == "1 / 2" and viewer.next() == 3 and viewer.next() == 0
    assert viewer.filter_by("worse") == [2] and viewer.shown()["fine-tuned"] == comparison.captions["fine-tuned"][2]
    viewer.filter_dropdown.value = "unchanged"
    assert viewer.order == [1, 4]
    viewer.sort_by("CIDEr delta")  # sorting keeps the filter
    assert viewer.order == [1, 4] and viewer.filter_kind == "unchanged"
    viewer.sort_by("BLEU-4 delta")  # a delta sort also switches the filter's metric: BLEU-4 unchanged on 1 and 4
    assert viewer.order == [1, 4]
    assert viewer.filter_by("improved") == [2]
    viewer.filter_by("all")
    assert viewer.order == [2, 1, 4, 0, 3]
    with pytest.raises(ValueError, match="Unknown filter 'better'"):
        viewer.filter_by("better")


def test_an_empty_selection_shows_nothing_and_does_not_break_navigation(comparison):
    only_ties = make_comparison(comparison.ids[:1], comparison.videos[:1], comparison.references[:1],
                                {"vanilla": ["a"], "fine-tuned": ["a"]})
    viewer = CaptionViewer(only_ties)
    assert viewer.filter_by("improved") == [] and viewer.current is None and viewer.next() is None
    assert viewer.shown()["position"] == "0 / 0" and viewer.image.value == b""


def test_stored_gifs_are_used_and_missing_videos_are_named(comparison, tmp_path):
    stored = write_gif(comparison.videos[1], tmp_path / f"{comparison.ids[1]}.gif", num_frames=2, size=32)
    missing = make_comparison(comparison.ids[:2], [str(tmp_path / "gone.mp4"), comparison.videos[1]],
                              comparison.references[:2], {n: v[:2] for n, v in comparison.captions.items()})
    viewer = CaptionViewer(missing, gif_dir=tmp_path)
    assert viewer.image.value == b"" and "video not found" in viewer.shown()["id"]
    viewer.next()
    assert viewer.image.value == stored.data and Path(stored.path).is_file()
    with pytest.raises(ValueError, match="No per-sample 'METEOR'"):
        CaptionViewer(comparison, metric="METEOR")
