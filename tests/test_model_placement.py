"""Models larger than one GPU: which GPUs each process takes, refused combinations, and the load settings that reach
`from_pretrained` (GPUs faked on this CPU-only machine; the real loads run on the CPU)."""

import importlib.util
from pathlib import Path

import pytest
import torch
import transformers

from vidlm.jobs.caption import CaptionConfig, _load
from vidlm.cli import main
from vidlm.config import ConfigError, EvaluateConfig
from vidlm.runtime.launch import LaunchError, ProcessInfo, process_gpus
from vidlm.models import load_model, load_options, placement


def local(rank: int, processes: int) -> ProcessInfo:
    return ProcessInfo(rank=rank, world_size=processes, local_rank=rank, local_world_size=processes)


@pytest.mark.parametrize("processes, per_process, visible, expected", [
    (1, 1, 1, [[0]]),
    (4, 2, 8, [[0, 1], [2, 3], [4, 5], [6, 7]]),  # 8 GPUs = 4 shards × 2 GPUs
    (2, 4, 8, [[0, 1, 2, 3], [4, 5, 6, 7]]),
    (1, 8, 8, [[0, 1, 2, 3, 4, 5, 6, 7]]),
    (3, 2, 7, [[0, 1], [2, 3], [4, 5]]),  # GPU 6 left idle
    (6, 1, 4, [[0], [1], [2], [3], [0], [1]]),  # one GPU each: small models share GPUs in turn, as before
    (2, 1, 0, [[], []]),  # no GPU: the CPU
])
def test_each_local_rank_takes_its_own_gpus(processes, per_process, visible, expected):
    assert [process_gpus(local(r, processes), per_process, visible) for r in range(processes)] == expected


def test_gpus_follow_the_local_rank_on_every_machine():
    # 2 machines × 2 processes × 2 GPUs: global rank 3 is local rank 1 on the second machine.
    assert process_gpus(ProcessInfo(rank=3, world_size=4, local_rank=1, local_world_size=2), 2, 4) == [2, 3]


@pytest.mark.parametrize("processes, per_process, visible, message", [
    (1, 3, 2, "gpus_per_process=3 but 2 GPU(s) visible (CUDA_VISIBLE_DEVICES); use gpus_per_process <= 2"),
    (4, 2, 6, "4 process(es) on this machine × 2 GPUs each need 8 GPUs, but 6 are visible (CUDA_VISIBLE_DEVICES); "
              "start 3 process(es) per machine (torchrun --nproc_per_node), or lower gpus_per_process to 1"),
])
def test_more_gpus_than_visible_is_refused(processes, per_process, visible, message):
    for rank in range(processes):  # every rank refuses, not only the ones past the end
        with pytest.raises(LaunchError) as err:
            process_gpus(local(rank, processes), per_process, visible)
        assert str(err.value) == message


def test_placement_limits_the_split_to_the_process_gpus():
    assert placement([]) == {"device_map": {"": "cpu"}}
    assert placement([5]) == {"device_map": {"": 5}}
    assert placement([2, 3], 60) == {"device_map": "auto", "max_memory": {2: "60GiB", 3: "60GiB"}}
    assert placement([4], 70.5) == {"device_map": "auto", "max_memory": {4: "70.5GiB"}}


class Loaded(Exception):
    """Raised by the fake from_pretrained once it has recorded its keywords (nothing is loaded)."""


@pytest.fixture
def eight_gpus(monkeypatch):
    """torch sees 8 GPUs of 141 GB; every model class's from_pretrained records its keywords and stops."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda gpu: type("Properties", (), {"total_memory": 141 * 2**30 + gpu * 2**29}))

    def record(cls, model_id, **kwargs):
        calls.append((cls.__name__, model_id, kwargs))
        raise Loaded

    for name in ("LlavaNextVideoForConditionalGeneration", "VideoLlavaForConditionalGeneration"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", classmethod(record))
    return calls


@pytest.mark.parametrize("with_adapter", [False, True])
def test_caption_settings_reach_from_pretrained(with_adapter, eight_gpus, tiny_checkpoints, tmp_path):
    adapter = None
    if with_adapter:  # the base loads first, so the fake stops before the adapter is read
        adapter = str(tmp_path / "adapter")
        Path(adapter).mkdir()
        Path(adapter, "adapter_config.json").write_text("{}")
    model = tiny_checkpoints["llava-next-video"]
    config = CaptionConfig("in.csv", "out.csv", model=model, adapter=adapter, quantization="none",
                           gpus_per_process=2, max_memory_gib=30, attn_implementation="sdpa")
    with pytest.raises(Loaded):
        _load(config, ProcessInfo(rank=1, world_size=4, local_rank=1, local_world_size=4))
    [(cls, model_id, kwargs)] = eight_gpus
    assert (cls, model_id) == ("LlavaNextVideoForConditionalGeneration", model)
    assert kwargs["device_map"] == "auto" and kwargs["max_memory"] == {2: "30GiB", 3: "30GiB"}
    assert kwargs["attn_implementation"] == "sdpa" and kwargs["quantization_config"] is None
    assert kwargs["dtype"] == torch.bfloat16


def test_without_a_limit_each_gpu_gives_its_whole_memory(eight_gpus, tiny_checkpoints, tmp_path):
    config = CaptionConfig("in.csv", "out.csv", model=tiny_checkpoints["video-llava"], quantization="none",
                           gpus_per_process=4)
    with pytest.raises(Loaded):
        _load(config, ProcessInfo(rank=1, world_size=2, local_rank=1, local_world_size=2))
    [(cls, _, kwargs)] = eight_gpus
    assert cls == "VideoLlavaForConditionalGeneration" and "attn_implementation" not in kwargs
    assert kwargs["max_memory"] == {4: "143GiB", 5: "143.5GiB", 6: "144GiB", 7: "144.5GiB"}


def test_one_gpu_per_process_keeps_the_whole_model_on_the_rank_gpu(eight_gpus, tiny_checkpoints):
    config = CaptionConfig("in.csv", "out.csv", model=tiny_checkpoints["llava-next-video"], quantization="none")
    with pytest.raises(Loaded):
        _load(config, ProcessInfo(rank=5, world_size=6, local_rank=5, local_world_size=6))
    assert eight_gpus[0][2]["device_map"] == {"": 5} and "max_memory" not in eight_gpus[0][2]


def test_a_bad_split_is_refused_before_loading(eight_gpus, tiny_checkpoints):
    config = CaptionConfig("in.csv", "out.csv", model=tiny_checkpoints["llava-next-video"], gpus_per_process=3)
    with pytest.raises(LaunchError, match="3 process"):
        _load(config, local(0, 3))  # 3 × 3 = 9 GPUs > 8
    assert eight_gpus == []


def test_evaluation_loads_with_the_same_settings(eight_gpus, tiny_checkpoints, tmp_path):
    from vidlm.data.samples import Sample
    from vidlm.evaluation import evaluate_models

    config = EvaluateConfig(model=tiny_checkpoints["llava-next-video"], quantization="none", gpus_per_process=2,
                            max_memory_gib=12, attn_implementation="eager", output_dir=str(tmp_path))
    with pytest.raises(Loaded):
        evaluate_models(config, [Sample(id="a", video="a.mp4", answer="a caption")])
    assert eight_gpus[0][2]["max_memory"] == {0: "12GiB", 1: "12GiB"}
    assert eight_gpus[0][2]["attn_implementation"] == "eager"


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_the_attention_setting_is_what_the_loaded_model_runs(attention, tiny_checkpoints):
    model = load_model(tiny_checkpoints["llava-next-video"], quantization="none",
                       **load_options(attn_implementation=attention))
    assert model.config._attn_implementation == attention
    assert model.config.text_config._attn_implementation == attention
    assert {p.device.type for p in model.parameters()} == {"cpu"}


NO_FLASH = ("attn_implementation 'flash_attention_2' needs the flash-attn package, which is not installed (pip "
            "install flash-attn --no-build-isolation, on a CUDA machine); or use 'sdpa'")


def test_flash_attention_without_the_package_is_refused_before_loading(eight_gpus, tiny_checkpoints, tmp_path,
                                                                      capsys):
    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here; the refusal is for machines without it")
    with pytest.raises(ValueError) as err:
        load_model(tiny_checkpoints["llava-next-video"], attn_implementation="flash_attention_2")
    assert str(err.value) == NO_FLASH and eight_gpus == []
    with pytest.raises(ConfigError) as err:
        CaptionConfig("in.csv", "out.csv", model="m", attn_implementation="flash_attention_2")
    assert str(err.value) == NO_FLASH
    with pytest.raises(ValueError, match="Unknown attention implementation 'flash'"):
        load_options(attn_implementation="flash")
    # The command line: one line, exit 2, before the input is even read.
    argv = ["caption", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "out.csv"), "--model",
            tiny_checkpoints["llava-next-video"], "--attn-implementation", "flash_attention_2"]
    assert main(argv) == 2
    err_text = capsys.readouterr().err
    assert err_text.strip().endswith(NO_FLASH) and err_text.count("\n") == 1
