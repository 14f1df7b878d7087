"""A side-by-side caption viewer for Jupyter and Colab: the GIF, the reference, each model's caption, score deltas.

    viewer = CaptionViewer(read_comparison("results"))
    viewer                      # shows it; Previous/Next, sort and filter are buttons and drop-downs
    viewer.sort_by("CIDEr delta"); viewer.filter_by("worse"); viewer.next(); viewer.shown()

Plain ipywidgets (Image with format="gif", HTML, Button, Dropdown), so it runs in JupyterLab, Notebook and Colab.
Everything the buttons do is a method, so the viewer can be driven — and tested — from Python.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from vidlm.viewing.compare import Comparison, change
from vidlm.viewing.htmltext import escape

FILTERS = ("all", "improved", "worse", "unchanged")


class CaptionViewer:
    """Browse a `Comparison` one video at a time, in an order and selection chosen by per-sample score deltas.

    metric: the per-sample metric whose delta (fine-tuned − vanilla) `filter_by` uses; a delta sort switches it.
    gif_dir: a folder of `<id>.gif` (as `write_gifs` names them); videos without one are rendered on first view.
    gif_options: passed to `render_gif` (num_frames defaults to the comparison's, else 8).
    Next and previous wrap around at the ends.
    """

    def __init__(self, comparison: Comparison, metric: str = "CIDEr", gif_dir=None, gif_options: dict | None = None):
        import ipywidgets as w

        if metric not in comparison.metrics:
            raise ValueError(f"No per-sample {metric!r} for both models; choose one of {comparison.metrics}")
        self.comparison, self.metric = comparison, metric
        self.gif_dir = Path(gif_dir) if gif_dir is not None else None
        self.gif_options = {"num_frames": comparison.num_frames or 8, **(gif_options or {})}
        self._gifs: dict[int, bytes] = {}
        self.order: list[int] = list(range(len(comparison)))  # sample positions, in display order
        self.index = 0  # position in `order`
        self.sort_key, self.descending, self.filter_kind = "order", False, "all"

        self.image = w.Image(format="gif", layout=w.Layout(width="256px", min_width="128px"))
        self.title = w.HTML()
        self.reference = w.HTML()
        self.caption_widgets = {name: w.HTML() for name in comparison.captions}
        self.delta_table = w.HTML()
        self.position = w.Label()
        self.previous_button = w.Button(description="◀ Previous", tooltip="previous video")
        self.next_button = w.Button(description="Next ▶", tooltip="next video")
        self.sort_dropdown = w.Dropdown(description="Order", options=self._sort_options(), value=("order", False))
        self.filter_dropdown = w.Dropdown(description=f"{metric} Δ", options=list(FILTERS), value="all")
        self._syncing = False  # set while Python code moves a drop-down, so its handler does not run again
        self.previous_button.on_click(lambda _: self.prev())
        self.next_button.on_click(lambda _: self.next())
        self.sort_dropdown.observe(self._on_sort, names="value")
        self.filter_dropdown.observe(self._on_filter, names="value")
        texts = w.VBox([self.title, self.reference, *self.caption_widgets.values(), self.delta_table],
                       layout=w.Layout(padding="0 0 0 12px", flex="1"))
        controls = w.HBox([self.previous_button, self.next_button, self.position, self.sort_dropdown,
                           self.filter_dropdown])
        self.widget = w.VBox([controls, w.HBox([self.image, texts])])
        self._show()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def current(self) -> int | None:
        """Position in the comparison of the video shown (None when the filter selects nothing)."""
        return self.order[self.index] if self.order else None

    def next(self) -> int | None:
        """Show the next video (the first after the last); returns its position in the comparison."""
        return self.go(self.index + 1)

    def prev(self) -> int | None:
        """Show the previous video (the last before the first)."""
        return self.go(self.index - 1)

    def go(self, index: int) -> int | None:
        """Show the `index`-th video of the current order (wrapping around)."""
        self.index = index % len(self.order) if self.order else 0
        self._show()
        return self.current

    def sort_by(self, key: str = "order", descending: bool = True) -> list[int]:
        """Order videos by `"<metric> delta"` (largest gain first when descending), `"id"` or `"order"` (as read).

        A delta key also makes that metric the one `filter_by` uses. Shows the first video of the new order.
        """
        metric = key[: -len(" delta")] if key.endswith(" delta") else None
        if key not in ("order", "id") and metric not in self.comparison.metrics:
            raise ValueError(f"Cannot sort by {key!r}; choose 'order', 'id' or one of "
                             f"{[m + ' delta' for m in self.comparison.metrics]}")
        if key in ("order", "id"):
            descending = False if key == "order" else descending
        self.sort_key, self.descending = key, descending
        if metric:
            self.metric = metric
        self._select()
        self._sync(self.sort_dropdown, (key, descending))
        return self.order

    def filter_by(self, kind: str = "all") -> list[int]:
        """Keep the videos whose `metric` delta is positive ("improved"), negative ("worse"), zero ("unchanged").

        Deltas within ±1e-9 count as zero. Shows the first video of the selection.
        """
        if kind not in FILTERS:
            raise ValueError(f"Unknown filter {kind!r}; choose one of {FILTERS}")
        self.filter_kind = kind
        self._select()
        self._sync(self.filter_dropdown, kind)
        return self.order

    def shown(self) -> dict[str, str]:
        """The text each widget shows now, tags stripped: position, id, reference, one entry per model, deltas."""
        plain = {"position": self.position.value, "id": _text(self.title.value),
                 "reference": _text(self.reference.value).removeprefix("reference: ")}
        for name, widget in self.caption_widgets.items():
            plain[name] = _text(widget.value).removeprefix(f"{name}: ")
        plain["deltas"] = _text(self.delta_table.value)
        return plain

    def gif(self, position: int) -> bytes:
        """The GIF bytes of the video at `position` (from `gif_dir`, else rendered once and kept); b"" if none."""
        if position not in self._gifs:
            from vidlm.video.gif import gif_name, stored_or_rendered

            stored = self.gif_dir / gif_name(self.comparison.ids[position]) if self.gif_dir else None
            self._gifs[position] = stored_or_rendered(self.comparison.videos[position], stored,
                                                      **self.gif_options) or b""
        return self._gifs[position]

    def _on_sort(self, event) -> None:
        if not self._syncing:
            self.sort_by(*event["new"])

    def _on_filter(self, event) -> None:
        if not self._syncing:
            self.filter_by(event["new"])

    def _select(self) -> None:
        c = self.comparison
        deltas = c.deltas(self.metric)
        positions = [i for i in range(len(c)) if self.filter_kind in ("all", change(deltas[i]))]
        if self.sort_key == "id":
            positions.sort(key=lambda i: c.ids[i], reverse=self.descending)
        elif self.sort_key != "order":
            sort_deltas = c.deltas(self.sort_key[: -len(" delta")])
            positions.sort(key=lambda i: -sort_deltas[i] if self.descending else sort_deltas[i])  # stable on ties
        self.order, self.index = positions, 0
        self.filter_dropdown.description = f"{self.metric} Δ"
        self._show()

    def _show(self) -> None:
        c, i = self.comparison, self.current
        self.position.value = f"{self.index + 1} / {len(self.order)}" if self.order else "0 / 0"
        if i is None:
            self._picture(b"")
            self.title.value = f"<b>No video matches “{escape(self.filter_kind)}”</b>"
            self.reference.value = self.delta_table.value = ""
            for widget in self.caption_widgets.values():
                widget.value = ""
            return
        self._picture(self.gif(i))
        missing = "" if self.image.value else f" <i>(video not found: {escape(c.videos[i])})</i>"
        self.title.value = f"<b>{escape(c.ids[i])}</b>{missing}"
        self.reference.value = _line("reference", " || ".join(c.references[i]), "#555")
        for name, widget in self.caption_widgets.items():
            widget.value = _line(name, c.captions[name][i], "#1f77b4" if name == c.tuned else "#333")
        self.delta_table.value = self._delta_html(i)

    def _picture(self, data: bytes) -> None:
        # An Image widget with no bytes still draws an <img>, which browsers show as a broken-image icon: hide it.
        self.image.value = data
        self.image.layout.display = None if data else "none"

    def _delta_html(self, i: int) -> str:
        c = self.comparison
        rows = "".join(
            f"<tr><td>{escape(m)}</td><td>{c.per_sample[c.base][i][m]:.3f}</td>"
            f"<td>{c.per_sample[c.tuned][i][m]:.3f}</td>"
            f"<td style='color:{_colour(d)}'>{d:+.3f}</td></tr>"
            for m in c.metrics for d in [c.per_sample[c.tuned][i][m] - c.per_sample[c.base][i][m]])
        head = (f"<tr><th>metric</th><th>{escape(c.base)}</th><th>{escape(c.tuned)}</th>"
                f"<th>delta</th></tr>")
        return f"<table style='font-size:90%'>{head}{rows}</table>"

    def _sort_options(self) -> list:
        options = [("as read", ("order", False)), ("id", ("id", False))]
        for m in self.comparison.metrics:
            options += [(f"{m} delta: gains first", (f"{m} delta", True)),
                        (f"{m} delta: losses first", (f"{m} delta", False))]
        return options

    def _sync(self, dropdown, value) -> None:
        """Show a state set from Python in its drop-down (if the drop-down offers it)."""
        values = [v[1] if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) else v
                  for v in dropdown.options]
        if dropdown.value != value and value in values:
            self._syncing = True
            try:
                dropdown.value = value
            finally:
                self._syncing = False


def _line(label: str, text: str, colour: str) -> str:
    """A label and a caption; the caption is escaped, so markup in a model's output shows as text."""
    return (f"<div style='margin:4px 0;white-space:pre-wrap'><b style='color:{escape(colour)}'>{escape(label)}:</b> "
            f"{escape(text)}</div>")


def _colour(delta: float) -> str:
    return "green" if delta > 0 else "crimson" if delta < 0 else "gray"


def _text(markup: str) -> str:
    """The text a browser shows for simple widget markup: tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()
