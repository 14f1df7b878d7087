"""CIDEr-D, as pycocoevalcap's CIDEr: `evaluate.load(vidlm.metrics.modules.module_path("cider"))`."""

import vidlm.metrics.modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class Cider(base.CaptionMetric):
    metric_names = ("CIDEr",)
