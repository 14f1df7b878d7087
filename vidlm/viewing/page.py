"""A comparison page to share: `index.html` that opens in any browser, offline, without Jupyter.

    export_page(read_comparison("results"), "results")            # results/index.html + results/gifs/*.gif
    export_page(comparison, "share", embed_gifs=True)             # one self-contained file (GIFs as data URIs)

The page shows the corpus scores, then every video: its GIF, reference, each model's caption and the per-sample
score deltas. A few lines of inline script add sorting and filtering by delta; without script the page shows every
video in the order read. Every caption, reference, id, path, model and metric name is escaped (`htmltext.escape`:
model outputs and CSV columns are untrusted text) and a Content Security Policy lets only the page's own script run
and nothing load from the network. The page and its GIFs are written atomically: a crash or a full disk leaves the
previous file or none, never a torn one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from vidlm.viewing.compare import SAME, Comparison, change
from vidlm.viewing.htmltext import escape

# `[hidden]` first and `!important`: the rules below give rows and controls a display, which would override the
# attribute the filter sets — rows counted as hidden stayed on screen.
_STYLE = """
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; }
td:first-child, th:first-child { text-align: left; }
.up { color: #137333; } .down { color: #c5221f; }
#samples { list-style: none; padding: 0; }
.sample { display: flex; gap: 1.2rem; padding: 1rem 0; border-top: 1px solid #ddd; }
.sample figure { margin: 0; } .sample img { width: 12rem; height: auto; image-rendering: pixelated; }
.sample figcaption { font: 13px monospace; } .texts { flex: 1; }
.texts dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.texts dt { font-weight: 600; } .texts dd { margin: 0; white-space: pre-wrap; }
.deltas { font-size: 13px; margin-top: .5rem; } .missing { width: 12rem; color: #c5221f; }
#controls { margin: .5rem 0; display: flex; gap: 1rem; flex-wrap: wrap; }
#notes { color: #444; max-width: 50rem; }
"""

# Sorts and filters the list items by the deltas each carries in data-deltas; the server-side order is the fallback.
_SCRIPT = """
(function () {
  var list = document.getElementById("samples"), controls = document.getElementById("controls");
  var metric = document.getElementById("metric"), order = document.getElementById("order");
  var show = document.getElementById("show"), count = document.getElementById("count");
  var items = Array.prototype.slice.call(list.children), same = %(same)s;
  function delta(item) {
    var d = JSON.parse(item.getAttribute("data-deltas"))[metric.value];
    return typeof d === "number" ? d : NaN;
  }
  function kind(d) { return d > same ? "improved" : d < -same ? "worse" : "unchanged"; }
  function update() {
    var sorted = items.slice(), sign = order.value === "gains" ? -1 : 1, visible = 0;
    if (order.value !== "read") {
      sorted.sort(function (a, b) {
        var x = delta(a), y = delta(b);
        if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
        return sign * (x - y) || a.getAttribute("data-order") - b.getAttribute("data-order");
      });
    }
    sorted.forEach(function (item) {
      var keep = show.value === "all" || kind(delta(item)) === show.value;
      item.hidden = !keep;
      visible += keep ? 1 : 0;
      list.appendChild(item);
    });
    count.textContent = visible + " of " + items.length + " videos";
  }
  [metric, order, show].forEach(function (el) { el.addEventListener("change", update); });
  controls.hidden = false;
  update();
})();
""" % {"same": repr(SAME)}


def export_page(comparison: Comparison, output_dir, *, gif_dir: str = "gifs", embed_gifs: bool = False,
                metric: str = "CIDEr", title: str = "Vanilla vs fine-tuned captions",
                gif_options: dict | None = None, notes: str = "") -> Path:
    """Write `output_dir/index.html` for `comparison`; returns its path.

    gif_dir: GIFs live in `output_dir/gif_dir/<id>.gif` (as `write_gifs` names them); missing ones, and stored ones
        that are not whole GIFs, are rendered from the videos with `gif_options` (for `render_gif`; num_frames
        defaults to the comparison's, else 8) and written there.
    embed_gifs: put the GIFs inside the page as data URIs — one file to send, ~1.35× the GIF bytes.
    metric: the per-sample metric the page sorts and filters by first.
    notes: plain text shown under the summary, e.g. what the models are and what each metric means; a blank line
        starts a new paragraph.
    A full disk raises OSError naming the file that did not fit; GIFs already written are whole and reused by the
    next export.
    """
    from vidlm.runtime.atomic import write_text

    if metric not in comparison.metrics:
        raise ValueError(f"No per-sample {metric!r} for both models; choose one of {comparison.metrics}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = {"num_frames": comparison.num_frames or 8, **(gif_options or {})}
    images = [_image(comparison, i, out, gif_dir, embed_gifs, options) for i in range(len(comparison))]
    return write_text(out / "index.html", page_html(comparison, images, metric, title, notes))


def page_html(comparison: Comparison, images: list[str | None], metric: str = "CIDEr",
              title: str = "Vanilla vs fine-tuned captions", notes: str = "") -> str:
    """The page as a string; `images[i]` is the GIF's URL (relative path or data URI) or None when there is none."""
    import vidlm

    c = comparison
    kinds = [change(d) for d in c.deltas(metric)]
    summary = (f"{len(c)} videos · models: {', '.join(map(escape, c.captions))} · on per-sample {escape(metric)}, "
               f"{escape(c.tuned)} is better on {kinds.count('improved')}, worse on {kinds.count('worse')}, "
               f"the same on {kinds.count('unchanged')} · made with vidlm {escape(vidlm.__version__)}")
    paragraphs = [p.strip() for p in notes.split("\n\n") if p.strip()]
    notes_html = (f'<div id="notes">{"".join(f"<p>{escape(p)}</p>" for p in paragraphs)}</div>\n'
                  if paragraphs else "")
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    policy = (f"default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; "
              f"script-src 'sha256-{script_hash}'")
    metric_options = "".join(f'<option value="{escape(m)}"{" selected" * (m == metric)}>{escape(m)}</option>'
                             for m in c.metrics)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p id="summary">{summary}</p>
{notes_html}<h2>Corpus scores</h2>
{_corpus_table(c)}
<h2>Per video</h2>
<div id="controls" hidden>
<label>metric <select id="metric">{metric_options}</select></label>
<label>order <select id="order"><option value="read">as read</option><option value="gains">largest gain first</option>
<option value="losses">largest loss first</option></select></label>
<label>show <select id="show"><option value="all">all</option><option value="improved">improved</option>
<option value="worse">worse</option><option value="unchanged">unchanged</option></select></label>
<span id="count"></span>
</div>
<ol id="samples">
{"".join(_sample(c, i, images[i]) for i in range(len(c)))}</ol>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def gallery(comparison: Comparison, gifs, limit: int | None = 6, embed: bool = True) -> str:
    """An HTML table — GIF, reference, each model's caption — for a notebook (`display(HTML(...))`) or a README.

    gifs: one GIF path per video (as `write_gifs` returns). embed=True puts them inline as data URIs (notebooks,
    Colab); embed=False links the paths as given (write them relative to the README).
    """
    c = comparison
    gifs = list(gifs)
    if len(gifs) != len(c):
        raise ValueError(f"{len(gifs)} GIFs for {len(c)} videos")
    from vidlm.video.gif import data_uri

    head = "<tr><th>video</th><th>reference</th>" + "".join(f"<th>{escape(n)}</th>" for n in c.captions) + "</tr>"
    rows = []
    for i in range(len(c) if limit is None else min(limit, len(c))):
        src = data_uri(Path(gifs[i]).read_bytes()) if embed else quote(Path(gifs[i]).as_posix())
        cells = [escape(" || ".join(c.references[i]))] + [escape(v[i]) for v in c.captions.values()]
        rows.append(f'<tr><td><img src="{escape(src)}" alt="{escape(c.ids[i])}" width="128"><br>'
                    f"<code>{escape(c.ids[i])}</code></td>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>"


def _image(c: Comparison, i: int, out: Path, gif_dir: str, embed: bool, options: dict) -> str | None:
    from vidlm.video.gif import data_uri, gif_name, stored_or_rendered

    name = gif_name(c.ids[i])
    data = stored_or_rendered(c.videos[i], out / gif_dir / name, save=not embed, **options)
    if data is None:
        return None
    return data_uri(data) if embed else quote(f"{Path(gif_dir).as_posix()}/{name}")


def _corpus_table(c: Comparison) -> str:
    names = list(c.captions)
    metrics = list(dict.fromkeys(m for n in names for m in c.corpus.get(n, {})))
    if not metrics:
        return "<p>No corpus scores (metrics.json) were found.</p>"
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    for m in metrics:
        values = [c.corpus.get(n, {}).get(m) for n in names]
        base, tuned = c.corpus.get(c.base, {}).get(m), c.corpus.get(c.tuned, {}).get(m)
        delta = "—" if base is None or tuned is None else _signed(tuned - base)
        rows.append(f"<tr><td>{escape(m)}</td>" + "".join(f"<td>{_number(v)}</td>" for v in values)
                    + f"<td>{delta}</td></tr>")
    return (f'<table id="corpus"><tr><th>metric</th>{head}<th>{escape(c.tuned)} − {escape(c.base)}</th>'
            f"</tr>{''.join(rows)}</table>")


def _sample(c: Comparison, i: int, image: str | None) -> str:
    sample_id = escape(c.ids[i])
    figure = (f'<img src="{escape(image)}" alt="{sample_id}">' if image else
              f'<div class="missing">video not found: {escape(c.videos[i])}</div>')
    captions = "".join(f'<dt>{escape(n)}</dt><dd class="caption" data-model="{escape(n)}">'
                       f"{escape(values[i])}</dd>" for n, values in c.captions.items())
    base, tuned = c.per_sample[c.base][i], c.per_sample[c.tuned][i]
    deltas = {m: tuned[m] - base[m] for m in c.metrics}
    rows = "".join(f"<tr><td>{escape(m)}</td><td>{base[m]:.3f}</td><td>{tuned[m]:.3f}</td>"
                   f"<td>{_signed(d)}</td></tr>" for m, d in deltas.items())
    return (f'<li class="sample" id="sample-{i}" data-id="{sample_id}" data-order="{i}" '
            f'data-deltas="{escape(json.dumps(deltas))}">\n'
            f"<figure>{figure}<figcaption>{sample_id}</figcaption></figure>\n"
            f'<div class="texts"><dl><dt>reference</dt><dd class="reference">'
            f'{escape(" || ".join(c.references[i]))}</dd>{captions}</dl>\n'
            f'<table class="deltas"><tr><th>metric</th><th>{escape(c.base)}</th><th>{escape(c.tuned)}</th>'
            f"<th>delta</th></tr>{rows}</table></div>\n</li>\n")


def _number(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _signed(delta: float) -> str:
    css = {"improved": "up", "worse": "down", "unchanged": ""}[change(delta)]
    return f'<span class="{css}">{delta:+.3f}</span>'
