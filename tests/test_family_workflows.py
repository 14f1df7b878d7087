"""The user's workflow on each newer family's tiny checkpoint: `vidlm finetune` with the caption-eval callback,
the adapter loaded, merged and carded, `vidlm caption --adapter` and the evaluation runner."""

import csv
import json

import pytest
import torch
import transformers

from helpers.models_fixtures import family_checkpoints, synthetic_data  # noqa: F401  (fixtures)
from vidlm.adapters import load_adapter, merge_adapter, model_card
from vidlm.cli import main
from vidlm.collate import TrainCollator
from vidlm.data.samples import VideoTextDataset, read_captions_csv
from vidlm.evaluation import EvaluateConfig, evaluate_models
from vidlm.families import get_family
from vidlm.models import load_model, load_processor

NEW_FAMILIES = ["qwen2.5-vl", "qwen3-vl", "llava-onevision", "smolvlm2", "internvl3"]


def few_clips(csv_path, out, count: int):
    """The first `count` rows of a captions CSV, paths made absolute so the copy may live anywhere."""
    rows = list(csv.DictReader(open(csv_path, newline="")))[:count]
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "path": str(csv_path.parent / r["path"])} for r in rows)
    return out


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_finetune_merge_card_caption_and_evaluate(family, family_checkpoints, synthetic_data, tmp_path):  # noqa: F811
    torch.set_num_threads(1)
    base, fam = family_checkpoints[family], get_family(family)
    train = few_clips(synthetic_data["train"], tmp_path / "train.csv", 4)
    held_out = few_clips(synthetic_data["test"], tmp_path / "test.csv", 2)
    out = tmp_path / "run"
    assert main(["finetune", str(train), "--model", base, "--num-frames", "2", "--max-steps", "2",
                 "--batch-size", "2", "--gradient-accumulation-steps", "1", "--learning-rate", "1e-2",
                 "--lora-dropout", "0", "--train-projector", "--logging-steps", "1",
                 "--no-gradient-checkpointing", "--eval-every-steps", "1", "--eval-max-new-tokens", "3",
                 "--eval-dataset", str(held_out), "--output-dir", str(out)]) == 0
    adapter = out / "adapter"
    record = json.loads((adapter / "run.json").read_text())
    assert record["family"] == family
    history = record["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2]
    assert [h["step"] for h in history if "eval_CIDEr" in h] == [1, 2]  # the caption-eval callback at each step

    # Merged into the float32 base, the adapter gives base+adapter's logits, loading with plain transformers.
    merged_dir = merge_adapter(base, adapter, tmp_path / "merged", dtype=torch.float32)
    processor = load_processor(base)
    data = VideoTextDataset(read_captions_csv(held_out), processor, fam, 2)
    batch = TrainCollator(processor.tokenizer.pad_token_id, fam.packed_inputs)([data[0]])
    expected = logits(load_adapter(base, adapter, quantization="none", dtype=torch.float32), batch)
    got = logits(getattr(transformers, fam.model_class).from_pretrained(merged_dir), batch)
    before = logits(load_model(base, quantization="none", dtype=torch.float32), batch)
    assert (before - expected).abs().max() > 1e-3  # two steps changed the model…
    assert torch.allclose(got, expected, rtol=0, atol=1e-4), (got - expected).abs().max()  # …and the merge kept it

    card = model_card(adapter, "me/tiny")
    assert f"the local model `{base}`" in card and "base_model:" not in card and "| steps | 2 |" in card
    assert f"- {family}" in card  # the family tag

    captions = tmp_path / "captions.csv"
    assert main(["caption", str(held_out), "--output", str(captions), "--model", base, "--adapter", str(adapter),
                 "--num-frames", "2", "--max-new-tokens", "3", "--no-progress", "--torch-threads", "1"]) == 0
    written = list(csv.DictReader(open(captions, newline="")))
    assert [r["status"] for r in written] == ["ok", "ok"], written

    evaluation = evaluate_models(EvaluateConfig(model=base, adapter=str(adapter), output_dir=str(tmp_path / "eval"),
                                                num_frames=2, max_new_tokens=3, meteor=False),
                                 read_captions_csv(held_out))
    # the command and the runner caption alike with the adapter (greedy), and the runner also has the base's
    assert [r["text"] for r in written] == evaluation.captions["fine-tuned"]
    assert len(evaluation.captions["vanilla"]) == 2 and any(c.strip() for c in evaluation.captions["vanilla"])
    assert {"BLEU-4", "CIDEr"} <= set(json.loads((tmp_path / "eval" / "metrics.json").read_text())["fine-tuned"])
