"""The exported page, opened in headless Chromium: every GIF loads, every caption shows as text, nothing injected runs.

Chromium and its driver are required (the Makefile's set-up installs Debian's `chromium` and `chromium-driver`):
without them these tests fail, they do not skip.
"""

import html
import shutil
from pathlib import Path

import pytest

from comparison_fixtures import NUM_FRAMES, bundled_clips, made_up_captions
from vidlm.compare import change, make_comparison, read_comparison
from vidlm.gif import render_gif
from vidlm.report import export_page, gallery

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE = {  # (sample, model): caption — each must show as the text it is
    (0, "vanilla"): "<script>alert(1)</script>",
    (1, "fine-tuned"): '<img src=x onerror="window.injected = true"> a red "circle" & </dd></li>',
}


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through its own chromedriver: no selenium-manager download, no network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            pytest.fail(f"{path} is missing: install Debian's chromium and chromium-driver (make setup does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def comparison(tmp_path):
    clips = bundled_clips(6)
    captions = made_up_captions([c["reference"] for c in clips])
    for (k, model), text in HOSTILE.items():
        captions[model][k] = text
    ids = [c["id"] for c in clips]
    ids[5] = "clip #5/b"  # not a safe file name: the GIF gets a sanitised name, the page a quoted URL
    return make_comparison(ids, [c["video"] for c in clips], [c["reference"] for c in clips], captions,
                           num_frames=NUM_FRAMES)


def rendered(driver) -> dict:
    """What the browser shows for each sample, read from the live DOM in display order."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#samples > li')).map(li => ({
            id: li.dataset.id, hidden: li.hidden,
            images: Array.from(li.querySelectorAll('img')).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
            reference: li.querySelector('.reference').innerText,
            captions: Object.fromEntries(Array.from(li.querySelectorAll('.caption'))
                                         .map(c => [c.dataset.model, c.innerText]))}));""")


def assert_no_script_ran(driver):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    assert driver.execute_script("return window.injected === undefined && document.scripts.length === 1")


def test_page_shows_every_gif_and_caption_as_text(browser, comparison, tmp_path):
    page = export_page(comparison, tmp_path / "share")
    assert sorted(p.name for p in (tmp_path / "share" / "gifs").iterdir()) == sorted(
        ["clip__5_b.gif"] + [f"{i}.gif" for i in comparison.ids[:5]])
    browser.get(page.as_uri())
    shown = rendered(browser)
    assert [s["id"] for s in shown] == comparison.ids and not any(s["hidden"] for s in shown)
    for k, sample in enumerate(shown):
        assert sample["images"] == [[True, 64, 64]], sample  # loaded and decoded: 64x64 GIFs
        assert sample["reference"] == comparison.references[k][0]
        assert sample["captions"] == {name: captions[k] for name, captions in comparison.captions.items()}
    assert shown[0]["captions"]["vanilla"] == "<script>alert(1)</script>"  # the literal text, on screen
    assert_no_script_ran(browser)
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


def test_sorting_and_filtering_by_delta_in_the_browser(browser, comparison, tmp_path):
    from selenium.webdriver.support.ui import Select

    browser.get(export_page(comparison, tmp_path).as_uri())
    assert browser.find_element("id", "controls").is_displayed()  # the script ran and showed the controls
    deltas = comparison.deltas("CIDEr")
    gains_first = sorted(range(6), key=lambda i: -deltas[i])
    Select(browser.find_element("id", "order")).select_by_value("gains")
    assert [s["id"] for s in rendered(browser)] == [comparison.ids[i] for i in gains_first]
    Select(browser.find_element("id", "show")).select_by_value("worse")
    visible = [s["id"] for s in rendered(browser) if not s["hidden"]]
    assert visible == [comparison.ids[i] for i in gains_first if deltas[i] < 0] == [comparison.ids[2]]
    assert browser.find_element("id", "count").text == "1 of 6 videos"
    Select(browser.find_element("id", "metric")).select_by_value("BLEU-1")
    bleu = comparison.deltas("BLEU-1")
    assert [s["id"] for s in rendered(browser) if not s["hidden"]] == [
        comparison.ids[i] for i in sorted(range(6), key=lambda i: -bleu[i]) if bleu[i] < 0]
    assert_no_script_ran(browser)


def test_embedded_page_is_one_file_that_works_alone(browser, comparison, tmp_path):
    page = export_page(comparison, tmp_path / "made", embed_gifs=True)
    assert not (tmp_path / "made" / "gifs").exists()
    alone = tmp_path / "elsewhere" / "page.html"
    alone.parent.mkdir()
    shutil.copy(page, alone)
    browser.get(alone.as_uri())
    shown = rendered(browser)
    assert all(s["images"] == [[True, 64, 64]] for s in shown) and len(shown) == 6
    assert shown[1]["captions"]["fine-tuned"] == HOSTILE[(1, "fine-tuned")]
    assert_no_script_ran(browser)


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
