"""Session-wide tiny checkpoints and synthetic clips shared by the model tests (imported by conftest.py)."""

import numpy as np
import pytest

FAMILIES = ["llava-next-video", "video-llava"]  # the fixed-size families, with the documented `USER:` prompt form
MORE_FAMILIES = ["llava-onevision", "smolvlm2", "internvl3"]  # chat-template families tested in test_more_families.py
ALL_FAMILIES = [*FAMILIES, "qwen2.5-vl", "qwen3-vl", *MORE_FAMILIES]


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """{family: path} of a tiny checkpoint of each family, built once per test session."""
    from vidlm.demo.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    return {family: str(make_tiny_checkpoint(family, root / family)) for family in FAMILIES}


@pytest.fixture(scope="session")
def family_checkpoints(tiny_checkpoints, tmp_path_factory):
    """{family: path} of a tiny checkpoint of every family (`tiny_checkpoints` holds the LLaVA ones only, whose
    prompt form many tests spell out)."""
    from vidlm.demo.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("family-checkpoints")
    return {**tiny_checkpoints, **{family: str(make_tiny_checkpoint(family, root / family))
                                   for family in ALL_FAMILIES if family not in tiny_checkpoints}}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """Train (32) and test (8) splits of synthetic clips: {"train": csv_path, "test": csv_path}."""
    from vidlm.demo.synthetic import make_split

    root = tmp_path_factory.mktemp("synthetic")
    return {"train": make_split(root, "train", 32, seed=0), "test": make_split(root, "test", 8, seed=0)}


def random_frames(seed: int, num_frames: int = 4, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)


TRAIN_SETTINGS = dict(num_frames=4, lora_r=16, lora_alpha=32, lora_dropout=0.0, train_projector=True,
                      learning_rate=2e-3, projector_learning_rate=1e-2, batch_size=8, gradient_accumulation_steps=1,
                      warmup_steps=5, gradient_checkpointing=False, logging_steps=5, seed=0, cache_features=True)


@pytest.fixture(scope="session")
def trained(tiny_checkpoints, synthetic_data, tmp_path_factory):
    """A short QLoRA run on the tiny LLaVA-NeXT-Video checkpoint: the FinetuneResult and its config."""
    from vidlm.data.samples import read_captions_csv
    from vidlm.train import FinetuneConfig, finetune

    config = FinetuneConfig(model=tiny_checkpoints["llava-next-video"], quantization="4bit", max_steps=60,
                            output_dir=str(tmp_path_factory.mktemp("run")), **TRAIN_SETTINGS)
    return finetune(config, read_captions_csv(synthetic_data["train"]), verbose=False), config
