"""vidlm's caption metrics as local `evaluate` modules, loadable offline:

    import evaluate
    from vidlm.metrics.modules import module_path
    metrics = evaluate.combine([evaluate.load(module_path(name)) for name in ("bleu", "rouge", "cider")])
    metrics.compute(predictions=["a dog runs"], references=[["a dog is running", "a running dog"]])
"""

from pathlib import Path

NAMES = ("bleu", "meteor", "rouge", "cider")


def module_path(name: str) -> str:
    """The file `evaluate.load` takes for the metric `name` (one of NAMES)."""
    if name not in NAMES:
        raise ValueError(f"Unknown caption metric module {name!r}; known: {list(NAMES)}")
    return str(Path(__file__).with_name(f"{name}.py"))
