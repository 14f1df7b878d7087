"""CIDEr-D, as pycocoevalcap's CIDEr: `evaluate.load(vidlm.metric_modules.module_path("cider"))`."""

import vidlm.metric_modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class Cider(base.CaptionMetric):
    metric_names = ("CIDEr",)
