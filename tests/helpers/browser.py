"""Headless Chromium for the tests of what a person sees: the exported page and the viewer's widgets.

Chromium and its driver are required (the Makefile's set-up installs Debian's `chromium` and `chromium-driver`):
without them these tests fail, they do not skip.

    from helpers.browser import browser  # the fixture
    browser.get(page.as_uri()); visible_rows(browser); assert_nothing_injected(browser)
"""

import base64
import json
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# Payloads for every field that reaches HTML. Each would add an element the page never has (svg, iframe, textarea,
# an element with an on… handler, a second script) and, if it ran, set window.__pwned or the document's title.
PWNED = "pwned"
INJECTED = "svg, iframe, textarea, object, [onerror], [onload], [onmouseover], [onfocus], img[src='x']"
HOSTILE = {
    "base": """vanilla <img src=x onerror="window.__pwned='base'">""",
    "tuned": """tuned "><script>window.__pwned='tuned'</script>""",
    "metric": """CIDEr-x <svg onload="window.__pwned='metric'"></svg>""",
    "metric2": """BLEU' onmouseover='window.__pwned=1' x='""",
    "caption": """</textarea></dd></li><iframe srcdoc="<script>parent.__pwned='caption'</script>"></iframe>""",
    "caption2": """<textarea></textarea><object data=x onerror="window.__pwned='caption2'"></object> & co""",
    "reference": """it's "quoted" ' onfocus='window.__pwned=1' autofocus x=' <textarea>""",
    "id": """<img src=x onerror="document.title='pwned'">""",
    "file": """<svg onload=window.__pwned=1> & 'x'""",  # a video's file name (no slash: it exists on disk)
    "path": """/gone/</script><script>document.title='pwned'</script>.mp4""",  # a video that is not there
    "notes": """Notes <img src=x onerror="window.__pwned='notes'">""",
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


def displayed(driver, css: str, within=None) -> list:
    """The elements matching `css` that a person sees (rendered with a box, not hidden), top to bottom."""
    root = within or driver
    shown = [e for e in root.find_elements("css selector", css) if e.is_displayed()]
    return sorted(shown, key=lambda e: (e.rect["y"], e.rect["x"]))


def images(driver, within=None) -> list[dict]:
    """Every displayed image: whether it finished loading and its decoded size (0 × 0 for a broken image)."""
    return [driver.execute_script("return {complete: arguments[0].complete, width: arguments[0].naturalWidth, "
                                  "height: arguments[0].naturalHeight}", e)
            for e in displayed(driver, "img", within)]


def assert_nothing_injected(driver, scripts: int) -> None:
    """No element a payload would add exists, no handler ran, no alert is open; `scripts`: the page's own count."""
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    state = driver.execute_script(f"""return {{injected: document.querySelectorAll("{INJECTED}").length,
        scripts: document.scripts.length, pwned: window.__pwned === undefined ? null : String(window.__pwned),
        title: document.title}}""")
    assert state["injected"] == 0 and state["scripts"] == scripts and state["pwned"] is None, state
    assert state["title"] != PWNED, state


def widget_page(widget, path: Path) -> Path:
    """Write a page that shows `widget` (an ipywidgets tree) the way JupyterLab's widget views do; returns its path.

    As ipywidgets 8 renders them: an HTML widget sets its div's innerHTML, a Label its text, an Image an <img> whose
    src is a blob: URL of its bytes (so empty bytes show the broken-image icon), Boxes are flex rows or columns, and a
    layout's display and width become the element's style.
    """
    tree = json.dumps(_node(widget)).replace("</", "<\\/")
    path.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>viewer</title></head><body>
<script type="application/json" id="tree">{tree}</script>
<script>{_BUILD}</script></body></html>""", encoding="utf-8")
    return path


def _node(widget) -> dict:
    import ipywidgets as w

    node = {"display": widget.layout.display or "", "width": widget.layout.width or ""}
    if isinstance(widget, w.Box):
        node.update(kind="box", vertical=isinstance(widget, w.VBox), children=[_node(c) for c in widget.children])
    elif isinstance(widget, w.Image):
        node.update(kind="image", format=widget.format, data=base64.b64encode(widget.value).decode())
    elif isinstance(widget, w.HTML):
        node.update(kind="html", value=widget.value)
    elif isinstance(widget, w.Label):
        node.update(kind="label", value=widget.value)
    elif isinstance(widget, w.Button):
        node.update(kind="button", value=widget.description)
    elif isinstance(widget, w.Dropdown):
        node.update(kind="dropdown", value=widget.label, description=widget.description,
                    options=list(widget._options_labels))
    else:
        raise TypeError(f"No view for {type(widget).__name__} in the test page")
    return node


_BUILD = """
function build(node) {
  var el;
  if (node.kind === "box") {
    el = document.createElement("div");
    el.style.display = "flex";
    el.style.flexDirection = node.vertical ? "column" : "row";
    node.children.forEach(function (c) { el.appendChild(build(c)); });
  } else if (node.kind === "image") {
    el = document.createElement("img");
    var bytes = Uint8Array.from(atob(node.data), function (c) { return c.charCodeAt(0); });
    el.src = URL.createObjectURL(new Blob([bytes], {type: "image/" + node.format}));
  } else if (node.kind === "html") {
    el = document.createElement("div");
    el.innerHTML = node.value;
  } else if (node.kind === "label" || node.kind === "button") {
    el = document.createElement(node.kind === "label" ? "span" : "button");
    el.textContent = node.value;
  } else {
    el = document.createElement("label");
    el.textContent = node.description + " ";
    var select = document.createElement("select");
    node.options.forEach(function (o) {
      var option = document.createElement("option");
      option.textContent = o;
      option.selected = o === node.value;
      select.appendChild(option);
    });
    el.appendChild(select);
  }
  el.classList.add("widget-" + node.kind);
  if (node.display) { el.style.display = node.display; }
  if (node.width) { el.style.width = node.width; }
  return el;
}
document.body.appendChild(build(JSON.parse(document.getElementById("tree").textContent)));
"""
