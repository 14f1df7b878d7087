"""Progress bars a person can follow wherever the code runs: widgets in a live notebook, text everywhere else.

`tqdm.auto` draws a widget in any Jupyter kernel, but a kernel run by papermill or nbconvert has no one to watch it:
the executed notebook keeps the widget's first frame (`Loading weights: 0%| | 0/65`) and the log shows nothing.
The sign of a person at a notebook is the Jupyter protocol's `allow_stdin`: JupyterLab, Notebook, VS Code and Colab
can answer `input()`; nbclient (papermill, nbconvert) executes every cell with it off.
"""

from __future__ import annotations

import sys

# Without a terminal to redraw in (papermill's log, CI, a file), each redraw is a line: one every 10 s at most.
LOG_INTERVAL_S = 10.0


def live_notebook() -> bool:
    """True while a cell runs in a Jupyter kernel whose frontend is a person's notebook (it allows input())."""
    ipython = sys.modules.get("IPython")  # never imported here: outside a kernel nobody has imported it
    shell = ipython.get_ipython() if ipython is not None else None
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False
    return bool(kernel.get_parent().get("content", {}).get("allow_stdin", False))


def tqdm(*args, **kwargs):
    """A `tqdm` progress bar: a widget in a live notebook, else text (one line per `LOG_INTERVAL_S` off a terminal)."""
    if live_notebook():
        from tqdm.notebook import tqdm as bar
    else:
        from tqdm.std import tqdm as bar

        stream = kwargs.get("file") or sys.stderr
        if not (hasattr(stream, "isatty") and stream.isatty()):
            kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), LOG_INTERVAL_S)
    return bar(*args, **kwargs)


def use_for_transformers() -> None:
    """Route the bars transformers draws itself (loading weights, writing shards) through `tqdm` above, unless the
    user has set a hook of their own."""
    from transformers.utils import logging

    previous = logging.set_tqdm_hook(_transformers_bar)
    if previous not in (None, _transformers_bar):
        logging.set_tqdm_hook(previous)


def _transformers_bar(factory, args, kwargs):
    from transformers.utils.logging import EmptyTqdm

    if factory is EmptyTqdm:  # bars switched off (disable_progress_bar): keep them off
        return factory(*args, **kwargs)
    return tqdm(*args, **kwargs)
