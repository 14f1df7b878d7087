"""Training curves and score bars plot the numbers the run and the comparison recorded."""

import json

import matplotlib
import pytest

from vidlm.viewing.plots import load_log_history, plot_metric_bars, plot_training

matplotlib.use("Agg")


def lines(fig) -> dict:
    """{label: (x, y)} of every line in the figure."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for ax in fig.axes
            for line in ax.get_lines()}


def test_training_curves_come_from_the_run_record_finetune_wrote(trained):
    result, config = trained
    fig = plot_training(config.output_dir)  # finetune writes output_dir/adapter/run.json with the log_history
    logged = [(h["step"], h["loss"]) for h in result.log_history if "loss" in h]
    assert lines(fig) == {"loss": ([s for s, _ in logged], [v for _, v in logged])}
    assert load_log_history(result.adapter_dir / "run.json") == json.loads(
        (result.adapter_dir / "run.json").read_text())["log_history"]


def test_caption_metric_curves_sit_beside_the_loss(results_dir):
    fig = plot_training(results_dir)  # the quickstart's layout: results/run/adapter/run.json
    assert [ax.get_title() for ax in fig.axes] == ["loss", "caption metrics", "CIDEr"]
    assert lines(fig) == {"loss": ([2, 4, 6, 8], [1.0, 0.5, 2 / 6, 0.25]),
                          "eval_BLEU-4": ([4, 8], [0.4, 0.8]), "eval_ROUGE-L": ([4, 8], [0.2, 0.4]),
                          "eval_CIDEr": ([4, 8], [2.0, 4.0])}
    with pytest.raises(FileNotFoundError, match="run.json"):
        load_log_history(results_dir / "gifs-nowhere")


def test_a_run_that_logged_nothing_yet_says_so_instead_of_raising():
    # max_steps below logging_steps: the Trainer logs only its summary, which has no loss.
    fig = plot_training([{"train_runtime": 1.0, "train_loss": 6.5, "step": 2}])
    assert lines(fig) == {}
    shown = [text.get_text() for ax in fig.axes for text in ax.texts]
    assert shown == ["Nothing to plot yet: no loss or ['eval_BLEU-4', 'eval_ROUGE-L', 'eval_CIDEr'] among the 1 "
                     "entries of the log\n(the loss is logged every logging_steps steps)"]


def test_score_bars_show_each_models_corpus_score():
    scores = {"vanilla": {"BLEU-4": 0.1, "METEOR": None, "CIDEr": 0.5},
              "fine-tuned": {"BLEU-4": 0.4, "METEOR": 0.3, "CIDEr": 4.5}}
    fig = plot_metric_bars(scores)
    assert [ax.get_title() for ax in fig.axes] == ["BLEU-4", "CIDEr"]  # METEOR: only one model has it
    assert [[bar.get_height() for bar in ax.patches] for ax in fig.axes] == [[0.1, 0.4], [0.5, 4.5]]
    with pytest.raises(ValueError, match="No scores of 'vanilla'"):
        plot_metric_bars({"base": {}, "fine-tuned": {}})
