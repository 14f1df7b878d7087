"""pycocoevalcap, the reference every caption score of vidlm is compared with."""


def coco_scores(predictions, references):
    """pycocoevalcap's own pipeline: Java PTB tokenizer, then BLEU, METEOR 1.5, ROUGE-L, CIDEr-D."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    corpus, per_sample = {}, {}
    (b, bs) = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        corpus[f"BLEU-{n + 1}"], per_sample[f"BLEU-{n + 1}"] = b[n], bs[n]
    for name, scorer in (("METEOR", Meteor()), ("ROUGE-L", Rouge()), ("CIDEr", Cider())):
        corpus[name], per_sample[name] = scorer.compute_score(gts, res)
    return corpus, per_sample
