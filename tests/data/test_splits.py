import random

import pytest

from vidlm.data.samples import Sample
from vidlm.data.splits import own_splits, split_samples


def samples(n=40, shots=1):
    return [Sample(id=f"v{i}#{k}", video=f"v{i}.mp4", answer="x", meta={"video_id": f"v{i}"})
            for i in range(n) for k in range(shots)]


def ids(split):
    return {name: [s.id for s in part] for name, part in split.items()}


def test_seeded_splits_are_reproducible_and_independent_of_input_order():
    data = samples()
    first = ids(split_samples(data, seed=3))
    shuffled = data[:]
    random.Random(0).shuffle(shuffled)
    assert {k: sorted(v) for k, v in ids(split_samples(shuffled, seed=3)).items()} == \
           {k: sorted(v) for k, v in first.items()}
    assert ids(split_samples(data, seed=3)) == first
    assert ids(split_samples(data, seed=4)) != first
    assert [len(first[k]) for k in ("train", "val", "test")] == [32, 4, 4]
    assert sorted(sum(first.values(), [])) == sorted(s.id for s in data)  # a partition: nothing lost or repeated


def test_samples_of_one_video_stay_in_one_split():
    split = split_samples(samples(n=10, shots=3), fractions=(0.6, 0.2, 0.2), seed=0)
    videos = {name: {s.meta["video_id"] for s in part} for name, part in split.items()}
    assert [len(videos[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert not (videos["train"] & videos["val"] or videos["train"] & videos["test"] or videos["val"] & videos["test"])
    assert all(len(part) == 3 * len(videos[name]) for name, part in split.items())


def test_small_dataset_still_gets_val_and_test():
    split = split_samples(samples(n=5), seed=0)
    assert [len(split[k]) for k in ("train", "val", "test")] == [3, 1, 1]


def test_bad_fractions():
    with pytest.raises(ValueError, match=r"summing to 1, got \(0.8, 0.1\)"):
        split_samples(samples(), fractions=(0.8, 0.1))


def test_own_splits():
    data = [Sample(id=str(i), video="v.mp4", answer="x", meta={"split": s}) for i, s in enumerate("aab")]
    assert ids(own_splits(data)) == {"a": ["0", "1"], "b": ["2"]}
    with pytest.raises(ValueError, match=r"1 samples have no meta\['split'\]"):
        own_splits([*data, Sample(id="z", video="v.mp4", answer="x")])
