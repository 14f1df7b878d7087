"""The exported page, opened in headless Chromium: what a person sees — the rows each filter and order shows, every
GIF loaded, every caption, name and path as text, nothing injected — and what a full disk or a torn GIF leaves.

Chromium and its driver are required (see tests/browser.py): without them these tests fail, they do not skip.
"""

import html
import shutil
from pathlib import Path

import pytest

from browser import HOSTILE, assert_nothing_injected, browser, displayed, images  # noqa: F401  (browser: a fixture)
from comparison_fixtures import NUM_FRAMES, bundled_clips, made_up_captions, write_hostile_results
from vidlm.compare import change, make_comparison, read_comparison
from vidlm.gif import render_gif
from vidlm.report import export_page, gallery

HOSTILE_CAPTIONS = {  # (sample, model): caption — each must show as the text it is
    (0, "vanilla"): "<script>alert(1)</script>",
    (1, "fine-tuned"): '<img src=x onerror="window.injected = true"> a red "circle" & </dd></li>',
}


@pytest.fixture
def comparison(tmp_path):
    clips = bundled_clips(6)
    captions = made_up_captions([c["reference"] for c in clips])
    for (k, model), text in HOSTILE_CAPTIONS.items():
        captions[model][k] = text
    ids = [c["id"] for c in clips]
    ids[5] = "clip #5/b"  # not a safe file name: the GIF gets a sanitised name, the page a quoted URL
    return make_comparison(ids, [c["video"] for c in clips], [c["reference"] for c in clips], captions,
                           num_frames=NUM_FRAMES)


def rendered(driver) -> list[dict]:
    """What a person sees of each displayed sample, top to bottom: id, images (loaded?, size), reference, captions."""
    return [{"id": row.get_attribute("data-id"),
             "images": [[i["complete"], i["width"], i["height"]] for i in images(driver, row)],
             "reference": row.find_element("css selector", ".reference").text,
             "captions": {c.get_attribute("data-model"): c.text for c in row.find_elements("css selector", ".caption")}}
            for row in displayed(driver, "#samples > li")]


def test_page_shows_every_gif_and_caption_as_text(browser, comparison, tmp_path):
    page = export_page(comparison, tmp_path / "share")
    assert sorted(p.name for p in (tmp_path / "share" / "gifs").iterdir()) == sorted(
        ["clip__5_b.gif"] + [f"{i}.gif" for i in comparison.ids[:5]])
    browser.get(page.as_uri())
    shown = rendered(browser)
    assert [s["id"] for s in shown] == comparison.ids
    for k, sample in enumerate(shown):
        assert sample["images"] == [[True, 64, 64]], sample  # loaded and decoded: 64x64 GIFs
        assert sample["reference"] == comparison.references[k][0]
        assert sample["captions"] == {name: captions[k] for name, captions in comparison.captions.items()}
    assert shown[0]["captions"]["vanilla"] == "<script>alert(1)</script>"  # the literal text, on screen
    assert_nothing_injected(browser, scripts=1)
    # The GIF files are those of the frames the model saw.
    assert (tmp_path / "share" / "gifs" / "clip__5_b.gif").read_bytes() == render_gif(
        comparison.videos[5], num_frames=NUM_FRAMES).data
    corpus = browser.find_element("id", "corpus").text
    assert "CIDEr" in corpus and f"{comparison.corpus['fine-tuned']['CIDEr']:.3f}" in corpus
    kinds = [change(d) for d in comparison.deltas("CIDEr")]
    assert kinds == ["improved", "improved", "worse", "improved", "unchanged", "improved"]
    assert "6 videos" in browser.find_element("id", "summary").text
    assert "better on 4, worse on 1, the same on 1" in browser.find_element("id", "summary").text
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # nothing to fetch


def test_embedded_page_is_one_file_that_works_alone(browser, comparison, tmp_path):
    page = export_page(comparison, tmp_path / "made", embed_gifs=True)
    assert not (tmp_path / "made" / "gifs").exists()
    alone = tmp_path / "elsewhere" / "page.html"
    alone.parent.mkdir()
    shutil.copy(page, alone)
    browser.get(alone.as_uri())
    shown = rendered(browser)
    assert all(s["images"] == [[True, 64, 64]] for s in shown) and len(shown) == 6
    assert shown[1]["captions"]["fine-tuned"] == HOSTILE_CAPTIONS[(1, "fine-tuned")]
    assert_nothing_injected(browser, scripts=1)


def test_page_from_the_files_write_comparison_wrote(browser, results_dir, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(results_dir, folder)
    (folder / "captions.csv").write_text((folder / "captions.csv").read_text().replace(
        bundled_clips(6)[3]["video"], str(tmp_path / "moved.mp4")))  # one video is gone since
    comparison = read_comparison(folder)
    assert comparison.num_frames == NUM_FRAMES and comparison.captions == made_up_captions(
        [c["reference"] for c in bundled_clips(6)])
    browser.get(export_page(comparison, folder).as_uri())
    shown = rendered(browser)
    assert [len(s["images"]) for s in shown] == [1, 1, 1, 0, 1, 1]
    assert all(s["images"] == [[True, 64, 64]] for k, s in enumerate(shown) if k != 3)
    assert "video not found" in browser.find_elements("css selector", "#samples > li")[3].text
    # The per-sample scores written in captions.csv are the ones shown.
    first = browser.find_elements("css selector", "#samples > li .deltas")[0].text
    assert f"CIDEr {comparison.per_sample['vanilla'][0]['CIDEr']:.3f}" in first


def test_gallery_table_escapes_captions_and_links_or_embeds_gifs(comparison, tmp_path):
    gifs = [tmp_path / f"{k}.gif" for k in range(6)]
    for k, path in enumerate(gifs):
        path.write_bytes(render_gif(comparison.videos[k], num_frames=NUM_FRAMES).data)
    linked = gallery(comparison, [f"results/gifs/{k}.gif" for k in range(6)], limit=2, embed=False)
    assert linked.count("<tr>") == 3 and 'src="results/gifs/1.gif"' in linked
    assert html.escape("<script>alert(1)</script>") in linked and "<script>" not in linked
    assert gallery(comparison, gifs, limit=None).count("data:image/gif;base64,") == 6


# Per-sample scores chosen so every order and filter is known. CIDEr deltas: +2, 0, −1, +5, −3, +1e-12 (a residue
# that counts as unchanged); BLEU-4 deltas: +0.1, +0.3, 0, +0.2, 0, +0.6 — nothing worse, so that filter is empty.
SCORES = {"vanilla": {"CIDEr": [1, 0, 2, 0, 4, 0.5], "BLEU-4": [0.5, 0, 0.1, 0.2, 0.2, 0.3]},
          "fine-tuned": {"CIDEr": [3, 0, 1, 5, 1, 0.5 + 1e-12], "BLEU-4": [0.6, 0.3, 0.1, 0.4, 0.2, 0.9]}}


@pytest.fixture
def scored():
    from vidlm.metrics import CaptionScores

    clips = bundled_clips(6)
    captions = made_up_captions([c["reference"] for c in clips])
    scores = {name: CaptionScores({m: sum(v) / 6 for m, v in by_metric.items()},
                                  [{m: by_metric[m][k] for m in by_metric} for k in range(6)])
              for name, by_metric in SCORES.items()}
    return make_comparison([c["id"] for c in clips], [c["video"] for c in clips], [c["reference"] for c in clips],
                           captions, scores, num_frames=NUM_FRAMES)


def expected_rows(metric: str, order: str, show: str) -> list[int]:
    """The samples the page should show, in order — worked out here from SCORES, not by vidlm."""
    deltas = [t - b for b, t in zip(SCORES["vanilla"][metric], SCORES["fine-tuned"][metric])]
    kind = ["improved" if d > 1e-9 else "worse" if d < -1e-9 else "unchanged" for d in deltas]
    rows = [k for k in range(6) if show in ("all", kind[k])]
    if order != "read":  # ties keep the order read (Python's sort is stable)
        rows.sort(key=lambda k: -deltas[k] if order == "gains" else deltas[k])
    return rows


def test_every_filter_and_order_shows_exactly_the_rows_it_counts(browser, scored, tmp_path):
    from selenium.webdriver.support.ui import Select

    browser.get(export_page(scored, tmp_path).as_uri())
    assert browser.find_element("id", "controls").is_displayed()  # the script ran and showed the controls
    seen_empty = 0
    for metric in ("CIDEr", "BLEU-4"):
        for order in ("read", "gains", "losses"):
            for show in ("all", "improved", "worse", "unchanged"):
                for select, value in (("metric", metric), ("order", order), ("show", show)):
                    Select(browser.find_element("id", select)).select_by_value(value)
                expected = expected_rows(metric, order, show)
                rows = displayed(browser, "#samples > li")
                where = (metric, order, show)
                assert [r.get_attribute("data-id") for r in rows] == [scored.ids[k] for k in expected], where
                assert browser.find_element("id", "count").text == f"{len(expected)} of 6 videos", where
                for row in rows:  # every GIF a person sees has loaded
                    assert [(i["complete"], i["width"] > 0) for i in images(browser, row)] == [(True, True)], where
                seen_empty += not expected
    assert seen_empty == 3  # BLEU-4 "worse" in each order: "0 of 6 videos" and no row on screen


def test_without_script_every_row_shows_and_the_controls_do_not(browser, scored, tmp_path):
    page = export_page(scored, tmp_path)
    text = page.read_text()
    start, end = text.index("<script>"), text.index("</script>") + len("</script>")
    static = page.with_name("static.html")
    static.write_text(text[:start] + text[end:])  # as a browser with script turned off shows it
    browser.get(static.as_uri())
    assert [r.get_attribute("data-id") for r in displayed(browser, "#samples > li")] == scored.ids
    assert displayed(browser, "#controls") == []  # controls that could not work are not offered
    assert_nothing_injected(browser, scripts=0)


def test_hostile_text_in_every_field_shows_as_text_and_runs_nothing(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    folder = write_hostile_results(tmp_path / "results")
    c = read_comparison(folder, base=HOSTILE["base"], tuned=HOSTILE["tuned"])
    metrics = ["CIDEr", HOSTILE["metric"], HOSTILE["metric2"]]
    assert list(c.captions) == [HOSTILE["base"], HOSTILE["tuned"]] and c.metrics == metrics  # as the CSV named them
    page = export_page(c, folder, metric=HOSTILE["metric"], notes=HOSTILE["notes"], title=HOSTILE["caption"])
    browser.get(page.as_uri())
    assert_nothing_injected(browser, scripts=1)
    assert browser.title == HOSTILE["caption"] and browser.find_element("tag name", "h1").text == HOSTILE["caption"]
    summary = browser.find_element("id", "summary").text
    assert f"models: {HOSTILE['base']}, {HOSTILE['tuned']} · on per-sample {HOSTILE['metric']}, " in summary
    assert browser.find_element("id", "notes").text == HOSTILE["notes"]
    assert [r[0].text for r in (row.find_elements("css selector", "td")
                                for row in browser.find_elements("css selector", "#corpus tr")[1:])] == metrics
    assert [o.text for o in Select(browser.find_element("id", "metric")).options] == metrics
    rows = displayed(browser, "#samples > li")
    assert [r.find_element("css selector", "figcaption").text for r in rows] == c.ids
    assert rows[0].find_element("css selector", ".reference").text == HOSTILE["reference"]
    assert {e.get_attribute("data-model"): e.text for e in rows[0].find_elements("css selector", ".caption")} == {
        HOSTILE["base"]: HOSTILE["caption"], HOSTILE["tuned"]: HOSTILE["caption2"]}
    assert [h.text for h in rows[0].find_elements("css selector", ".deltas th")] == [
        "metric", HOSTILE["base"], HOSTILE["tuned"], "delta"]
    assert images(browser, rows[0]) == [{"complete": True, "width": 64, "height": 64}]  # from the hostile file name
    assert f"video not found: {HOSTILE['path']}" in rows[1].text and images(browser, rows[1]) == []
    # The controls work on the hostile names: deltas on metric2 are 0, −0.1, +0.2; on metric −0.3, +0.4, 0.
    Select(browser.find_element("id", "show")).select_by_value("improved")
    assert [r.get_attribute("data-id") for r in displayed(browser, "#samples > li")] == [c.ids[1]]
    Select(browser.find_element("id", "metric")).select_by_value(HOSTILE["metric2"])
    assert [r.get_attribute("data-id") for r in displayed(browser, "#samples > li")] == [c.ids[2]]
    assert browser.find_element("id", "count").text == "1 of 3 videos"
    assert_nothing_injected(browser, scripts=1)


def test_hostile_text_in_a_gallery_shows_as_text(browser, tmp_path):
    from vidlm.gif import gif_name

    folder = write_hostile_results(tmp_path / "results")
    c = read_comparison(folder, base=HOSTILE["base"], tuned=HOSTILE["tuned"])
    export_page(c, folder)  # writes the GIFs
    table = gallery(c, [f"gifs/{gif_name(i)}" for i in c.ids], embed=False)
    page = folder / "gallery.html"
    page.write_text(f'<!doctype html><meta charset="utf-8"><title>gallery</title>{table}', encoding="utf-8")
    browser.get(page.as_uri())
    assert_nothing_injected(browser, scripts=0)
    rows = browser.find_elements("css selector", "tr")
    assert [h.text for h in rows[0].find_elements("css selector", "th")] == [
        "video", "reference", HOSTILE["base"], HOSTILE["tuned"]]
    assert [td.text for td in rows[1].find_elements("css selector", "td")] == [
        HOSTILE["id"], HOSTILE["reference"], HOSTILE["caption"], HOSTILE["caption2"]]
    assert images(browser, rows[1])[0]["width"] == 64  # the GIF of the sample with the hostile id loads
