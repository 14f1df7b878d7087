"""Plots people would rather look at than read: per-sample score distributions of two models, and the gains."""

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
