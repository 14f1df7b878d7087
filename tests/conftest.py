import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# benchmarks/*.py import their run record (benchmarks/record.py) as a script's sibling; the tests load them by path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.models_fixtures import synthetic_data, tiny_checkpoints, trained  # noqa: E402,F401  (shared fixtures)
from helpers.comparison_fixtures import results_dir  # noqa: E402,F401  (shared fixture)
from vidlm.demo.synthetic import write_video  # noqa: E402

NUM_FRAMES, FPS = 16, 8


def grey_level(k: int) -> int:
    """The uniform grey of frame k in `grey_video`."""
    return 10 + 15 * k


@pytest.fixture
def grey_video(tmp_path):
    """A 16-frame 64x64 MP4 at 8 fps where frame k is uniformly grey_level(k), so a decoded frame names its index."""
    frames = np.stack([np.full((64, 64, 3), grey_level(k), dtype=np.uint8) for k in range(NUM_FRAMES)])
    path = tmp_path / "grey.mp4"
    write_video(path, frames, fps=FPS)
    return path
