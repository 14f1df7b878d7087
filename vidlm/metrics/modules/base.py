"""The shared `evaluate.Metric` behind vidlm's metric modules: inputs, description, and a call to score_captions."""

import datasets
import evaluate

from vidlm.metrics.scores import score_captions

_INPUTS = """
Args:
    predictions: one caption per sample (str).
    references: the reference captions of each sample (list of str).
Returns:
    a dict of corpus scores on pycocoevalcap's scale (captions PTB-tokenised as pycocoevalcap does).
"""

_CITATION = """@inproceedings{chen2015microsoft, title={Microsoft COCO Captions: Data Collection and Evaluation Server},
author={Chen, Xinlei and others}, year={2015}}"""


class CaptionMetric(evaluate.Metric):
    """Subclasses set `metric_names`: the keys of `score_captions` they report."""

    metric_names: tuple[str, ...] = ()

    def _info(self):
        return evaluate.MetricInfo(
            description=f"{', '.join(self.metric_names)} of captions, equal to pycocoevalcap's (vidlm).",
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}),
        )

    def _compute(self, predictions, references):
        scores = score_captions(list(predictions), [list(r) for r in references],
                                meteor=True if "METEOR" in self.metric_names else False)
        return {name: scores[name] for name in self.metric_names}
