"""Training data: samples and the training Dataset (`samples`), dataset loaders for each format (`sources`),
reproducible splits (`splits`), and what a dataset holds before training on it (`exploration`)."""

from vidlm.data.samples import Sample, VideoTextDataset, read_captions_csv
from vidlm.data.splits import own_splits, split_samples

__all__ = ["Sample", "VideoTextDataset", "own_splits", "read_captions_csv", "split_samples"]
