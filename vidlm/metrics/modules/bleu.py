"""BLEU-1…4 (corpus, closest reference length): `evaluate.load(vidlm.metrics.modules.module_path("bleu"))`."""

import vidlm.metrics.modules.base as base  # a module, not the class: evaluate takes the first Metric class it finds


class Bleu(base.CaptionMetric):
    metric_names = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
