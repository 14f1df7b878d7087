"""The side-by-side viewer shows the right captions, navigates, sorts and filters by per-sample deltas — and what its
widgets show, rendered in headless Chromium as JupyterLab renders them (see tests/helpers/browser.py)."""

from pathlib import Path

import pytest

from helpers.browser import HOSTILE, assert_nothing_injected, browser, images, widget_page  # noqa: F401  (a fixture)
from helpers.comparison_fixtures import NUM_FRAMES, bundled_clips, write_hostile_results
from vidlm.viewing.compare import make_comparison, read_comparison
from vidlm.video.gif import render_gif, write_gif
from vidlm.metrics.scores import CaptionScores
from vidlm.viewing.viewer import CaptionViewer

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
    torn = tmp_path / f"{comparison.ids[0]}.gif"  # a GIF cut short (older vidlm wrote them in place): rendered again
    torn.write_bytes(stored.data[:-20])
    assert CaptionViewer(comparison, gif_dir=tmp_path).image.value == render_gif(
        comparison.videos[0], num_frames=NUM_FRAMES).data
    with pytest.raises(ValueError, match="No per-sample 'METEOR'"):
        CaptionViewer(comparison, metric="METEOR")


def look(browser, viewer, path: Path) -> dict:
    """Render the viewer's widgets in Chromium as they are now: the images displayed and the text on screen."""
    browser.get(widget_page(viewer.widget, path).as_uri())
    return {"images": images(browser), "text": browser.find_element("tag name", "body").text}


def test_what_the_viewer_shows_in_a_browser(browser, comparison, tmp_path):
    viewer = CaptionViewer(comparison)
    seen = look(browser, viewer, tmp_path / "first.html")
    assert seen["images"] == [{"complete": True, "width": 64, "height": 64}]  # the GIF, loaded
    assert "vanilla: <script>alert(1)</script>" in seen["text"]  # the caption as text, not run
    assert f"fine-tuned: {comparison.captions['fine-tuned'][0]}" in seen["text"] and "1 / 5" in seen["text"]
    assert "CIDEr 1.000 3.000 +2.000" in seen["text"]
    assert_nothing_injected(browser, scripts=2)  # the test page's own two
    viewer.filter_by("worse")
    seen = look(browser, viewer, tmp_path / "worse.html")
    assert len(seen["images"]) == 1 and seen["images"][0]["width"] == 64
    assert comparison.captions["vanilla"][2] in seen["text"] and "1 / 1" in seen["text"]


def test_a_filter_that_matches_nothing_shows_a_message_and_no_image(browser, comparison, tmp_path):
    only_ties = make_comparison(comparison.ids[:1], comparison.videos[:1], comparison.references[:1],
                                {"vanilla": ["a"], "fine-tuned": ["a"]})
    viewer = CaptionViewer(only_ties)
    viewer.filter_by("improved")
    seen = look(browser, viewer, tmp_path / "empty.html")
    assert seen["images"] == []  # no broken-image icon
    assert "No video matches “improved”" in seen["text"] and "0 / 0" in seen["text"]
    viewer.filter_by("all")  # and the image comes back
    assert look(browser, viewer, tmp_path / "all.html")["images"] == [{"complete": True, "width": 64, "height": 64}]


def test_a_missing_video_is_named_and_shows_no_image(browser, comparison, tmp_path):
    gone = str(tmp_path / "gone.mp4")
    missing = make_comparison(comparison.ids[:1], [gone], comparison.references[:1],
                              {n: v[:1] for n, v in comparison.captions.items()})
    seen = look(browser, CaptionViewer(missing), tmp_path / "missing.html")
    assert seen["images"] == [] and f"video not found: {gone}" in seen["text"]


def test_hostile_text_in_every_field_shows_as_text_in_the_viewer(browser, tmp_path):
    c = read_comparison(write_hostile_results(tmp_path / "results"), base=HOSTILE["base"], tuned=HOSTILE["tuned"])
    viewer = CaptionViewer(c, metric=HOSTILE["metric"])
    for k in range(3):
        seen = look(browser, viewer, tmp_path / f"{k}.html")
        assert_nothing_injected(browser, scripts=2)
        lines = seen["text"].splitlines()
        assert lines[lines.index("unchanged") + 1].startswith(c.ids[k])  # the title, after the filter's options
        assert f"reference: {' || '.join(c.references[k])}" in lines
        assert f"{HOSTILE['base']}: {c.captions[HOSTILE['base']][k]}" in lines
        assert f"{HOSTILE['tuned']}: {c.captions[HOSTILE['tuned']][k]}" in lines
        assert f"metric {HOSTILE['base']} {HOSTILE['tuned']} delta" in lines
        assert [line.split(" ")[0] for line in lines[-3:]] == ["CIDEr", "CIDEr-x", "BLEU'"]  # the metric rows
        assert any(line.startswith(HOSTILE["metric2"] + " ") for line in lines[-3:])
        viewer.next()
    assert seen["images"] == [{"complete": True, "width": 64, "height": 64}]
    viewer.go(1)
    assert f"video not found: {HOSTILE['path']}" in look(browser, viewer, tmp_path / "gone.html")["text"]
