"""The one way text reaches HTML in vidlm: captions, references, ids, paths, model and metric names are untrusted
(model output, CSV columns, file names from the internet), so every one goes through `escape` — in element text and
in attribute values alike — before it is put into the page, the viewer or a gallery.

    f'<td title="{escape(name)}">{escape(caption)}</td>'
"""

from __future__ import annotations

import html


def escape(value) -> str:
    """`value` (any object, as `str(value)`) as HTML text: `& < > " '` become entities, so it can neither open a
    tag nor leave a quoted attribute — safe in element content and in attribute values quoted with ' or "."""
    return html.escape(str(value), quote=True)
