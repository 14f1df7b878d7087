"""Caption metrics equal to pycocoevalcap's (`scores`), its PTB tokenizer in Python (`ptb`), the same metrics as
offline `evaluate` modules (`modules`), and the Shot2Story benchmark tables (`shot2story`)."""

from vidlm.metrics.scores import CaptionScores, score_captions

__all__ = ["CaptionScores", "score_captions"]
