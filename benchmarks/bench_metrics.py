"""Scoring speed: vidlm.metrics.scores.score_captions vs pycocoevalcap on the same captions, with and without METEOR.

    .venv/bin/python benchmarks/bench_metrics.py [--captions 5000] [--references 5] [--repeats 3]

Captions are generated (seeded) video-caption-like sentences with punctuation, contractions, hyphens and numbers.
Both sides tokenise (pycocoevalcap with the Java PTB tokenizer, vidlm in Python) and compute every metric; the
script also prints the largest difference between their scores.
"""

import argparse
import random
import statistics
import time

from record import default_path, recording

SUBJECTS = ["a man", "a woman", "two dogs", "the child", "a group of people", "someone", "a red car", "the camera",
            "an old man's hands", "a 3-year-old girl", "the chef", "a cat", "players", "a drone"]
VERBS = ["walks", "runs", "is playing", "pans", "cuts", "drives", "doesn't stop", "jumps", "is cooking", "flies",
         "can't reach", "looks", "dances", "is riding"]
OBJECTS = ["the guitar", "across the yard", "onions", "down a wet road", "over the city", "a well-known song",
           "the ball", "on stage", "in the rain", "at 10:30", "2 slices of pizza", "the cookie jar", "a bike",
           "through a forest", "near the lake"]
ENDINGS = [".", "!", "", ", then stops.", " while it's snowing.", " (slowly).", "; the light fades.", " again."]


def caption(rng: random.Random) -> str:
    text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.5:
        text += f" and {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    text += rng.choice(ENDINGS)
    return text[0].upper() + text[1:] if rng.random() < 0.7 else text


def pycocoevalcap_scores(predictions, references, meteor: bool):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    out = dict(zip([f"BLEU-{n}" for n in range(1, 5)], Bleu(4).compute_score(gts, res, verbose=0)[0]))
    out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = Cider().compute_score(gts, res)[0]
    if meteor:
        out["METEOR"] = Meteor().compute_score(gts, res)[0]
    return out


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    import contextlib
    import io

    from vidlm.metrics.scores import _ngrams, score_captions

    def vidlm_scores(meteor: bool):
        _ngrams.cache_clear()  # cold every run: no credit for n-grams counted in an earlier repeat
        return score_captions(predictions, references, meteor=meteor)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=5000)
    parser.add_argument("--references", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", default=default_path("bench_metrics"),
                        help="where to record the run (default: results/bench/bench_metrics.json; '' for nowhere)")
    args = parser.parse_args()
    rng = random.Random(0)
    predictions = [caption(rng) for _ in range(args.captions)]
    references = [[caption(rng) for _ in range(args.references)] for _ in range(args.captions)]
    with recording("bench_metrics", args.json) as record:
        print(f"{args.captions} captions × {args.references} references, median of {args.repeats} runs\n")
        print(f"{'metrics':<28}{'pycocoevalcap':>15}{'vidlm':>10}{'speed-up':>10}{'max |diff|':>12}")
        for meteor in (False, True):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # PTB chatter
                coco_s, coco = timed(lambda: pycocoevalcap_scores(predictions, references, meteor), args.repeats)
            ours_s, ours = timed(lambda: vidlm_scores(meteor), args.repeats)
            diff = max(abs(ours[k] - v) for k, v in coco.items())
            label = "BLEU, ROUGE-L, CIDEr, METEOR" if meteor else "BLEU, ROUGE-L, CIDEr"
            print(f"{label:<28}{coco_s:>13.2f} s{ours_s:>8.2f} s{coco_s / ours_s:>9.1f}x{diff:>12.1e}")
            record.add(**{label: {"pycocoevalcap_s": coco_s, "vidlm_s": ours_s, "speed_up": coco_s / ours_s,
                                  "max_difference": diff}})


if __name__ == "__main__":
    main()
