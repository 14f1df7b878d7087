"""ROUGE-L (LCS F-measure, beta 1.2): `evaluate.load(vidlm.metrics.modules.module_path("rouge"))`."""

import vidlm.metrics.modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class RougeL(base.CaptionMetric):
    metric_names = ("ROUGE-L",)
