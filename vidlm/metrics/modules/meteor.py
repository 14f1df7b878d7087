"""METEOR 1.5 (needs Java and the meteor extra): `evaluate.load(vidlm.metrics.modules.module_path("meteor"))`."""

import vidlm.metrics.modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class Meteor(base.CaptionMetric):
    metric_names = ("METEOR",)
