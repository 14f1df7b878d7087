"""On-disk feature cache: hits give the same tensors without decoding; each key ingredient invalidates it.
Also VideoTextDataset's time windows and decoding in DataLoader worker processes."""

import os

import pytest
import torch

import vidlm.video.decode
from helpers.source_fixtures import grey_clip
from vidlm.collate import TrainCollator
from vidlm.data.samples import Sample, VideoTextDataset
from vidlm.families import get_family
from vidlm.feature_cache import FeatureCache, feature_key, processor_fingerprint, video_fingerprint
from helpers.models_fixtures import family_checkpoints  # noqa: F401  (fixture)
from vidlm.prompts import Prompt

FAMILY = get_family("llava-next-video")


@pytest.fixture(scope="module")
def processors(tiny_checkpoints):
    from vidlm.models import load_processor

    return {name: load_processor(path) for name, path in tiny_checkpoints.items()}


@pytest.fixture
def videos(tmp_path):
    return [grey_clip(tmp_path / f"clip{i}.mp4", frames=16, size=64) for i in range(4)]


@pytest.fixture
def decodes(monkeypatch):
    """The (path, kwargs) of every load_video call VideoTextDataset makes."""
    calls, real = [], vidlm.video.decode.load_video

    def spy(path, **kwargs):
        calls.append((str(path), kwargs))
        return real(path, **kwargs)

    monkeypatch.setattr(vidlm.video.decode, "load_video", spy)
    return calls


def dataset(samples, processor, cache_dir, num_frames=4):
    return VideoTextDataset(samples, processor, FAMILY, num_frames, feature_cache=cache_dir)


def test_key_changes_with_each_ingredient(tmp_path, videos, processors):
    fingerprint = processor_fingerprint(processors["llava-next-video"])
    base = dict(processor_key=fingerprint, num_frames=4, video=videos[0], window=None,
                prompt=Prompt("USER: <video>Hi ASSISTANT: a</s>", [(25, 30)]))
    key = feature_key(**base)
    assert feature_key(**base) == key  # deterministic
    changed = {
        "processor": dict(processor_key=processor_fingerprint(processors["video-llava"])),
        "frames": dict(num_frames=8),
        "prompt text": dict(prompt=Prompt("USER: <video>Hello ASSISTANT: a</s>", [(28, 33)])),
        "supervised spans": dict(prompt=Prompt("USER: <video>Hi ASSISTANT: a</s>", [(25, 26)])),
        "video": dict(video=videos[1]),
        "window": dict(window=(0.0, 1.0)),
    }
    keys = {name: feature_key(**{**base, **change}) for name, change in changed.items()}
    assert key not in keys.values() and len(set(keys.values())) == len(keys)
    os.utime(videos[0], ns=(1, 1))  # same bytes, new mtime: changed as far as the cheap fingerprint knows
    assert feature_key(**base) != key
    assert feature_key(**base, content_hash=True) == feature_key(**{**base, "video": videos[0]}, content_hash=True)
    assert video_fingerprint(videos[0], content_hash=True) == video_fingerprint(videos[0], content_hash=True)


def test_processor_fingerprint_sees_configuration_and_tokenizer(processors):
    import copy

    processor = processors["llava-next-video"]
    fingerprint = processor_fingerprint(processor)
    assert processor_fingerprint(copy.deepcopy(processor)) == fingerprint
    other = copy.deepcopy(processor)
    other.video_processor.size = {"shortest_edge": 32}
    assert processor_fingerprint(other) != fingerprint
    other = copy.deepcopy(processor)
    other.chat_template = None
    assert processor_fingerprint(other) != fingerprint
    other = copy.deepcopy(processor)
    other.tokenizer.add_tokens(["zebra"])
    assert processor_fingerprint(other) != fingerprint


def test_cached_features_are_reused_until_an_ingredient_changes(tmp_path, videos, processors, decodes):
    processor = processors["llava-next-video"]
    samples = [Sample(id="a", video=str(videos[0]), answer="a red circle moves left")]
    cache_dir = tmp_path / "cache"
    fresh = dataset(samples, processor, cache_dir)[0]
    assert len(decodes) == 1 and len(FeatureCache(cache_dir)) == 1
    (entry,) = [p for p in cache_dir.rglob("*") if p.is_file()]  # no temporary file left beside it
    assert entry.suffix == ".safetensors" and not entry.name.startswith(".")
    again = dataset(samples, processor, cache_dir)[0]  # a new run: read from disk, nothing decoded
    assert len(decodes) == 1
    assert set(again) == set(fresh) and all(torch.equal(again[k], fresh[k]) for k in fresh)
    assert again["labels"].dtype == torch.long
    assert again["pixel_values_videos"].dtype == fresh["pixel_values_videos"].dtype

    dataset(samples, processor, cache_dir, num_frames=2)[0]  # frame count
    dataset([Sample(id="a", video=str(videos[0]), answer="a red circle moves right")], processor, cache_dir)[0]
    dataset([Sample(id="a", video=str(videos[0]), answer="a red circle moves left", window=(0.0, 1.0))], processor,
            cache_dir)[0]
    assert len(decodes) == 4 and len(FeatureCache(cache_dir)) == 4
    os.utime(videos[0], ns=(5, 5))  # the video file changed
    dataset(samples, processor, cache_dir)[0]
    assert len(decodes) == 5
    template, processor.chat_template = processor.chat_template, None  # the processor changed
    try:
        dataset(samples, processor, cache_dir)[0]
    finally:
        processor.chat_template = template
    assert len(decodes) == 6 and len(FeatureCache(cache_dir)) == 6
    assert FeatureCache(cache_dir).clear() == 6 and len(FeatureCache(cache_dir)) == 0


def test_damaged_entry_is_recomputed(tmp_path, videos, processors, decodes):
    samples = [Sample(id="a", video=str(videos[0]), answer="a red circle moves left")]
    data = dataset(samples, processors["llava-next-video"], tmp_path / "cache")
    data[0]
    (entry,) = (tmp_path / "cache").rglob("*.safetensors")
    entry.write_bytes(b"garbage")
    assert data[0]["input_ids"].ndim == 1 and len(decodes) == 2
    with pytest.raises(TypeError, match=r"Only tensors can be cached.*'note': 'str'"):
        FeatureCache(tmp_path / "c").put("ab" * 32, {"note": "text"})


CRAFTED = {
    "float input_ids": lambda f: {**f, "input_ids": f["input_ids"].float()},
    "no labels": lambda f: {k: v for k, v in f.items() if k != "labels"},
    "an extra key": lambda f: {**f, "pixel_values": f["pixel_values_videos"].clone()},
    "labels shorter": lambda f: {**f, "labels": f["labels"][:-1]},
    "2-D input_ids": lambda f: {**f, "input_ids": f["input_ids"][None]},
    "an id past the vocabulary": lambda f: {**f, "input_ids": f["input_ids"] + 10_000},
    "a label that is not its token": lambda f: {**f, "labels": torch.where(f["labels"] < 0, 7, f["labels"])},
    "2 frames for 4": lambda f: {**f, "pixel_values_videos": f["pixel_values_videos"][:2]},
    "integer pixels": lambda f: {**f, "pixel_values_videos": f["pixel_values_videos"].long()},
}


@pytest.mark.parametrize("craft", CRAFTED)
def test_an_entry_that_does_not_match_what_the_dataset_makes_is_recomputed(tmp_path, videos, processors, decodes,
                                                                            craft):
    samples = [Sample(id="a", video=str(videos[0]), answer="a red circle moves left")]
    data = dataset(samples, processors["llava-next-video"], tmp_path / "cache")
    fresh = data[0]
    (entry,) = (tmp_path / "cache").rglob("*.safetensors")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in CRAFTED[craft](fresh).items()}, entry)
    with pytest.warns(UserWarning, match="recomputing it"):
        again = data[0]
    assert len(decodes) == 2 and set(again) == set(fresh) and all(torch.equal(again[k], fresh[k]) for k in fresh)
    third = dataset(samples, processors["llava-next-video"], tmp_path / "cache")[0]  # the entry was rewritten
    assert len(decodes) == 2 and all(torch.equal(third[k], fresh[k]) for k in fresh)


def test_dataset_samples_frames_inside_the_window(videos, processors, decodes):
    samples = [Sample(id="a", video=str(videos[0]), answer="a red circle moves left", window=(1.0, float("inf"))),
               Sample(id="b", video=str(videos[1]), answer="a red circle moves left")]
    data = VideoTextDataset(samples, processors["llava-next-video"], FAMILY, 4)
    windowed, whole = data[0], data[1]
    assert decodes[0][1]["window"] == (1.0, float("inf")) and decodes[1][1]["window"] is None
    # Grey levels rise with the frame index: frames from the second half of the clip are brighter.
    assert windowed["pixel_values_videos"].mean() > whole["pixel_values_videos"].mean() + 0.3


class _WhereDecoded(VideoTextDataset):
    """Writes the id of the process that built item i to `<folder>/item<i>.pid`."""

    def __getitem__(self, i):
        features = super().__getitem__(i)
        with open(os.path.join(os.path.dirname(self.samples[i].video), f"item{i}.pid"), "w") as f:
            f.write(str(os.getpid()))
        return features


def test_dataloader_decodes_in_worker_processes(videos, processors):
    processor = processors["llava-next-video"]
    samples = [Sample(id=str(i), video=str(v), answer="a red circle moves left", window=(0.25 * i, 2.0))
               for i, v in enumerate(videos)]
    data = _WhereDecoded(samples, processor, FAMILY, 4)
    collate = TrainCollator(processor.tokenizer.pad_token_id)
    serial = list(torch.utils.data.DataLoader(data, batch_size=2, collate_fn=collate, num_workers=0))
    parallel = list(torch.utils.data.DataLoader(data, batch_size=2, collate_fn=collate, num_workers=2))
    assert len(parallel) == 2
    for a, b in zip(serial, parallel):
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    pids = {int((videos[0].parent / f"item{i}.pid").read_text()) for i in range(len(samples))}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes did the decoding


# Families whose visual inputs are not one [frames, 3, H, W] tensor of exactly num_frames frames: Qwen's patches +
# grid (packed), InternVL3's packed frames, SmolVLM2's frames-as-images at 1 fps with their pixel mask.
VARIABLE = ["qwen2.5-vl", "qwen3-vl", "internvl3", "smolvlm2"]


def break_grid(features):
    """Qwen: one temporal patch more in the grid than the patches stored; others: the first frame dropped (InternVL3
    then has fewer than num_frames frames, SmolVLM2 fewer frames than its pixel mask)."""
    bad = dict(features)
    if "video_grid_thw" in bad:
        bad["video_grid_thw"] = bad["video_grid_thw"] + torch.tensor([[1, 0, 0]])
    else:
        bad["pixel_values"] = bad["pixel_values"][1:]
    return bad


@pytest.mark.parametrize("family", VARIABLE)
def test_variable_visual_inputs_are_cached_checked_and_reused(tmp_path, videos, family_checkpoints, decodes, family):
    from vidlm.models import load_processor

    fam = get_family(family)
    processor = load_processor(family_checkpoints[family])
    samples = [Sample(id=str(i), video=str(v), answer="a red circle moves left") for i, v in enumerate(videos[:2])]
    fresh = [VideoTextDataset(samples, processor, fam, 4)[i] for i in range(2)]  # no cache
    assert len(decodes) == 2
    cached = [VideoTextDataset(samples, processor, fam, 4, feature_cache=tmp_path / "cache")[i] for i in range(2)]
    assert len(decodes) == 4 and len(FeatureCache(tmp_path / "cache")) == 2
    again = VideoTextDataset(samples, processor, fam, 4, feature_cache=tmp_path / "cache")
    reused = [again[i] for i in range(2)]
    assert len(decodes) == 4  # a second dataset instance decodes nothing
    for a, b, c in zip(fresh, cached, reused):
        assert set(a) == set(b) == set(c) and all(torch.equal(a[k], c[k]) and torch.equal(a[k], b[k]) for k in a)
    pad = processor.tokenizer.pad_token_id
    assert all(torch.equal(v, TrainCollator(pad, fam.packed_inputs)(fresh)[k])
               for k, v in TrainCollator(pad, fam.packed_inputs)(reused).items())
    # an entry whose pixels do not agree with its own grid / frame shape is recomputed
    entry = FeatureCache(tmp_path / "cache").path(again._key(0))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in break_grid(reused[0]).items()}, entry)
    with pytest.warns(UserWarning, match="recomputing it"):
        recomputed = again[0]
    assert len(decodes) == 5 and all(torch.equal(recomputed[k], fresh[0][k]) for k in fresh[0])
    # more frames, or a different sampling policy, is another key
    more = VideoTextDataset(samples, processor, fam, 6, feature_cache=tmp_path / "cache")
    more[0]
    assert len(decodes) == 6 and more._key(0) != again._key(0)


def test_key_includes_the_sampling_policy(videos):
    from dataclasses import replace

    fam = get_family("qwen2.5-vl")
    keys = {feature_key("p", 8, "text", videos[0], sampling=s.record(8))
            for s in (fam.sampling, replace(fam.sampling, max_pixels=fam.sampling.max_pixels // 2),
                      replace(fam.sampling, fps=fam.sampling.fps * 2))}
    assert len(keys) == 3
