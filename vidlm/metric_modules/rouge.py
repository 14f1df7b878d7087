"""ROUGE-L (LCS F-measure, beta 1.2): `evaluate.load(vidlm.metric_modules.module_path("rouge"))`."""

import vidlm.metric_modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class RougeL(base.CaptionMetric):
    metric_names = ("ROUGE-L",)
