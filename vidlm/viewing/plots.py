"""Plots people would rather look at than read: score distributions and gains, training curves, metric bars."""

from __future__ import annotations


def plot_score_distributions(scores: dict, metrics=("CIDEr", "BLEU-4", "ROUGE-L"), base: str = "vanilla",
                             tuned: str = "fine-tuned"):
    """One row per metric: histograms of both models' per-sample scores, and of the per-sample gain."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 2.8 * len(metrics)), squeeze=False)
    for row, metric in zip(axes, metrics):
        values = {name: [s[metric] for s in scores[name].per_sample] for name in (base, tuned)}
        for name, color in ((base, "tab:gray"), (tuned, "tab:blue")):
            row[0].hist(values[name], bins=20, alpha=0.6, color=color, label=f"{name} (mean {scores[name][metric]:.3f})")
        row[0].set_title(f"{metric} per sample")
        row[0].legend(fontsize=8)
        gains = [t - b for b, t in zip(values[base], values[tuned])]
        row[1].hist(gains, bins=20, color="tab:green")
        row[1].axvline(0, color="black", linewidth=0.8)
        better = sum(g > 0 for g in gains)
        row[1].set_title(f"{metric} gain ({tuned} − {base}): better on {better}/{len(gains)}")
    fig.tight_layout()
    return fig


def load_log_history(source) -> list[dict]:
    """A training run's `log_history`: from the list itself, a run.json, or a folder holding one.

    Folders are searched as `finetune` writes them: `<folder>/run.json`, then `<folder>/adapter/run.json`, then
    `<folder>/run/adapter/run.json` (the quickstart's results folder).
    """
    import json
    from pathlib import Path

    if isinstance(source, list):
        return source
    path = Path(source)
    candidates = [path] if path.is_file() else [path / "run.json", path / "adapter" / "run.json",
                                                path / "run" / "adapter" / "run.json"]
    for candidate in candidates:
        if candidate.is_file():
            record = json.loads(candidate.read_text())
            if "log_history" in record:
                return record["log_history"]
    raise FileNotFoundError(f"No run.json with a log_history at {[str(c) for c in candidates]}; pass the fine-tuning "
                            f"output_dir (finetune writes <output_dir>/adapter/run.json) or result.log_history")


def plot_training(log_history, metrics=("eval_BLEU-4", "eval_ROUGE-L", "eval_CIDEr")):
    """The training loss by step and, where the run logged them (`CaptionEvalCallback`), caption metrics by step.

    log_history: `FinetuneResult.log_history`, a run.json or a run folder (see `load_log_history`).
    CIDEr (0–10) gets its own panel beside the metrics on a 0–1 scale. A log with none of them yet gives a figure
    that says so.
    """
    import matplotlib.pyplot as plt

    history = load_log_history(log_history)
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    curves = {m: [(h["step"], h[m]) for h in history if h.get(m) is not None and "step" in h] for m in metrics}
    curves = {m: points for m, points in curves.items() if points}
    if not losses and not curves:  # e.g. max_steps below logging_steps: a short run must not crash its notebook
        fig, ax = plt.subplots(figsize=(4.5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Nothing to plot yet: no loss or {list(metrics)} among the {len(history)} entries of the "
                f"log\n(the loss is logged every logging_steps steps)", ha="center", va="center", fontsize=9)
        return fig
    groups = [("loss", {"loss": losses})] if losses else []
    small = {m: p for m, p in curves.items() if "CIDEr" not in m}
    large = {m: p for m, p in curves.items() if "CIDEr" in m}
    groups += [(title, group) for title, group in (("caption metrics", small), ("CIDEr", large)) if group]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), squeeze=False)
    for ax, (title, group) in zip(axes[0], groups):
        for name, points in group.items():
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(group) > 1 or title != "loss":
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_bars(scores: dict, metrics=None, base: str = "vanilla", tuned: str = "fine-tuned"):
    """One small panel per metric with the corpus score of each model (metrics either model lacks are left out).

    scores: {model: {metric: value}} — `metrics.json`, `Comparison.corpus` or `EvaluationResult.scores`.
    """
    import matplotlib.pyplot as plt

    for name in (base, tuned):
        if name not in scores:
            raise ValueError(f"No scores of {name!r}; models: {list(scores)} (pass base=… / tuned=…)")
    names = [base, tuned]
    metrics = [m for m in (metrics or scores[base])
               if all(scores[n].get(m) is not None for n in names)]
    if not metrics:
        raise ValueError(f"No metric has a score for both {names}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(1.6 * len(metrics) + 1, 2.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = [scores[n][metric] for n in names]
        bars = ax.bar([0, 1], values, color=["tab:gray", "tab:blue"])
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_xticks([0, 1], names, rotation=30, fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.margins(y=0.2)
    fig.tight_layout()
    return fig


def plot_dataset(stats, budget=None, bins: int = 20):
    """Histograms of a dataset (`vidlm.data.exploration.dataset_stats`): duration, resolution, fps, caption length in
    words and tokens, and — with a `token_budget` report — the sequence length per sample against max_length."""
    import matplotlib.pyplot as plt

    panels = [("duration (s)", stats.column("duration")), ("shorter side (px)",
              [min(r["width"], r["height"]) for r in stats.rows if r["width"] and r["height"]]),
              ("fps", stats.column("fps")), ("caption words", stats.column("caption_words")),
              ("caption tokens", stats.column("caption_tokens"))]
    if budget is not None:
        panels.append((f"tokens per sample ({budget.num_frames} frames)", budget.totals))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), squeeze=False)
    for i, (ax, (title, values)) in enumerate(zip(axes.flat, panels)):
        # The budget panel spans 0..max_length, so bars stay visible beside the limit line however close they are.
        span = (0, max(budget.max_length, *values) * 1.02) if budget is not None and i == 5 and values else None
        if values:
            ax.hist(values, bins=bins, range=span, color="tab:blue")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
    if budget is not None:
        ax = axes.flat[len(panels) - 1]
        ax.axvline(budget.max_length, color="tab:red", linewidth=1)
        ax.set_title(f"{ax.get_title()}: {len(budget.over)} over {budget.max_length}", fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_frame_grid(samples, num_frames: int = 4, size: int = 96):
    """One row per sample: `num_frames` frames sampled from its window, each with its time; unreadable ones say why."""
    import matplotlib.pyplot as plt

    from vidlm.data.exploration import finite_window, sample_frames

    rows = sample_frames(samples, num_frames, size)
    fig, axes = plt.subplots(max(len(rows), 1), num_frames, figsize=(2 * num_frames, 2.1 * max(len(rows), 1)),
                             squeeze=False)
    for row_axes, (sample, clip) in zip(axes, rows):
        for k, ax in enumerate(row_axes):
            ax.axis("off")
            if isinstance(clip, str):
                if k == 0:
                    ax.text(0, 0.5, clip[-80:], fontsize=7, wrap=True, transform=ax.transAxes)
                continue
            ax.imshow(clip.frames[min(k, len(clip.frames) - 1)])
            label = f"{sample.id} ({finite_window(sample.window)})\n" if k == 0 else ""
            ax.set_title(f"{label}{clip.timestamps[min(k, len(clip.frames) - 1)]:.2f} s", fontsize=8, loc="left")
        if isinstance(clip, str):
            row_axes[0].set_title(f"{sample.id} ({finite_window(sample.window)})", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
