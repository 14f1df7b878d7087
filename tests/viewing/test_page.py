"""The exported page, opened in headless Chromium: what a person sees — the rows each filter and order shows, every
GIF loaded, every caption, name and path as text, nothing injected — and what a full disk or a torn GIF leaves.

Chromium and its driver are required (see tests/helpers/browser.py): without them these tests fail, they do not skip.
"""

import html
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers.browser import HOSTILE, assert_nothing_injected, browser, displayed, images  # noqa: F401  (browser: a fixture)
from helpers.comparison_fixtures import NUM_FRAMES, bundled_clips, made_up_captions, write_hostile_results
from vidlm.viewing.compare import change, make_comparison, read_comparison
from vidlm.video.gif import render_gif
from vidlm.viewing.page import export_page, gallery

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
    from vidlm.metrics.scores import CaptionScores

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


def on_screen(driver) -> list[dict]:
    """The rows a person sees, by their rendered boxes, top to bottom: id and each visible image's (loaded?, width)."""
    return driver.execute_script("""
        const seen = e => e.checkVisibility() && e.getBoundingClientRect().height > 0;
        return Array.from(document.querySelectorAll('#samples > li')).filter(seen)
            .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
            .map(li => ({id: li.dataset.id, images: Array.from(li.querySelectorAll('img')).filter(seen)
                                                         .map(i => [i.complete, i.naturalWidth])}));""")


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
                expected = [scored.ids[k] for k in expected_rows(metric, order, show)]
                rows, where = on_screen(browser), (metric, order, show)
                assert [r["id"] for r in rows] == expected, where
                assert browser.find_element("id", "count").text == f"{len(expected)} of 6 videos", where
                assert all(r["images"] == [[True, 64]] for r in rows), where  # every GIF on screen has loaded
                if show == "worse":  # the same by Selenium's own visibility rules
                    assert [r.get_attribute("data-id") for r in displayed(browser, "#samples > li")] == expected
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
    from vidlm.video.gif import gif_name

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


@contextmanager
def small_disk(folder: Path, size: str = "200k"):
    """A tmpfs of `size` mounted at `folder` (needs root, as CI runs); unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """A file that uses all the free space of `folder`'s disk but `leave` bytes."""
    stat = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def whole_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "filler"}


@pytest.mark.slow
def test_a_full_disk_names_the_file_leaves_nothing_torn_and_a_rerun_completes(browser, comparison, tmp_path):
    from vidlm.video.gif import gif_name

    expected = {gif_name(i): render_gif(v, num_frames=NUM_FRAMES).data
                for i, v in zip(comparison.ids, comparison.videos)}
    with small_disk(tmp_path / "disk") as disk:
        out = disk / "results"
        filler = fill(disk, leave=3 * 4096)  # room for three small GIFs (a tmpfs file takes whole 4 KiB pages)
        with pytest.raises(OSError, match=r"No space left on the device while writing .*/results/gifs/.*\.gif; "
                                          r"free some space") as error:
            export_page(comparison, out)
        written = whole_files(out / "gifs")
        assert 0 < len(written) < 6 and str(error.value).split("writing ")[1].split(";")[0] not in [
            str(out / "gifs" / n) for n in written]
        assert all(expected[name] == data for name, data in written.items())  # whole GIFs or none, no temp files
        assert not (out / "index.html").exists()
        filler.unlink()  # space freed: the export completes, reusing the GIFs already written
        page = export_page(comparison, out)
        assert whole_files(out / "gifs") == expected
        first = page.read_bytes()
        # A full disk while writing the page keeps the previous page, whole.
        filler = fill(disk, leave=0)
        with pytest.raises(OSError, match=r"No space left on the device while writing .*/results/index\.html"):
            export_page(comparison, out, notes="a second version")
        assert whole_files(out) == {"index.html": first}
        filler.unlink()
        page = export_page(comparison, out, notes="a second version")
        browser.get(page.as_uri())
        assert browser.find_element("id", "notes").text == "a second version"
        assert [s["images"] for s in rendered(browser)] == [[[True, 64, 64]]] * 6


def test_a_torn_gif_from_an_older_version_is_rendered_again(browser, comparison, tmp_path):
    from vidlm.video.gif import gif_name

    stored = tmp_path / "gifs" / gif_name(comparison.ids[2])
    whole = render_gif(comparison.videos[2], num_frames=NUM_FRAMES).data
    stored.parent.mkdir()
    stored.write_bytes(whole[: len(whole) // 2])  # what a crash mid-write left under the final name
    browser.get(export_page(comparison, tmp_path).as_uri())
    assert stored.read_bytes() == whole
    assert [s["images"] for s in rendered(browser)] == [[[True, 64, 64]]] * 6


def test_comparison_files_on_a_full_disk_are_whole_or_absent(tmp_path):
    from helpers.comparison_fixtures import write_results

    with small_disk(tmp_path / "disk") as disk:
        filler = fill(disk, leave=0)
        with pytest.raises(OSError, match=r"No space left on the device while writing .*/results/captions\.csv"):
            write_results(disk / "results")
        assert whole_files(disk / "results") == {}
        filler.unlink()
        write_results(disk / "results")
        assert read_comparison(disk / "results").captions == made_up_captions(
            [c["reference"] for c in bundled_clips(6)])
