"""Output that looks like failure but is not: filtered at its source, and nothing else with it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNELS_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"


def python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_the_bitsandbytes_kernels_message_is_gone_and_its_other_warnings_stay():
    plain = python("import bitsandbytes")
    if KERNELS_MESSAGE not in plain.stderr:
        pytest.skip("this CPU has no AVX512-BF16, so bitsandbytes does not look for the kernels package")
    quiet = python("import logging, vidlm, bitsandbytes\n"
                   "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('another warning of the same logger')\n"
                   "logging.getLogger('bitsandbytes.cextension').warning('a warning of another bitsandbytes logger')")
    assert quiet.returncode == 0, quiet.stderr
    assert KERNELS_MESSAGE not in quiet.stderr
    assert quiet.stderr.splitlines() == ["another warning of the same logger", "a warning of another bitsandbytes logger"]


BARS = """
from transformers.utils.logging import tqdm as transformers_tqdm
from vidlm.runtime.progress import tqdm, use_for_transformers
use_for_transformers()
for _ in tqdm(range(3), desc="vidlm bar"):
    pass
for _ in transformers_tqdm(range(5), desc="transformers bar"):
    pass
"""


def outputs_in_a_kernel(code: str, allow_stdin: bool) -> list[dict]:
    """The IOPub outputs of `code` run in a real IPython kernel, sent as a frontend that (dis)allows input() would."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "PYTHONPATH": str(ROOT)})
    outputs = []
    try:
        reply = kc.execute_interactive(code, allow_stdin=allow_stdin, timeout=300,
                                       output_hook=lambda msg: outputs.append(msg))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return [{"type": m["msg_type"], **m["content"]} for m in outputs if m["msg_type"] in ("stream", "display_data")]


def test_progress_bars_are_text_when_papermill_runs_the_kernel():
    outputs = outputs_in_a_kernel(BARS, allow_stdin=False)  # nbclient (papermill, nbconvert) disallows input()
    assert all(o["type"] == "stream" for o in outputs)
    text = "".join(o["text"] for o in outputs if o["name"] == "stderr")
    assert "vidlm bar: 100%" in text and "3/3" in text
    assert "transformers bar: 100%" in text and "5/5" in text


def test_progress_bars_are_widgets_in_a_live_notebook():
    outputs = outputs_in_a_kernel(BARS, allow_stdin=True)  # JupyterLab, VS Code, Colab allow input()
    widgets = [o for o in outputs if o["type"] == "display_data"]
    assert [w["data"]["text/plain"].split(":")[0] for w in widgets] == ["vidlm bar", "transformers bar"]
    assert all("application/vnd.jupyter.widget-view+json" in w["data"] for w in widgets)
    assert not [o for o in outputs if o["type"] == "stream"]
