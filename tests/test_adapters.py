import json
import shutil

import pytest
import torch
import transformers

from vidlm.adapters import load_adapter, merge_adapter, model_card, push_to_hub
from vidlm.collate import TrainCollator
from vidlm.data.samples import VideoTextDataset, read_captions_csv
from vidlm.families import get_family
from vidlm.models import load_model, load_processor


@pytest.fixture(scope="module")
def batch(trained, synthetic_data):
    _, config = trained
    processor = load_processor(config.model)
    data = VideoTextDataset(read_captions_csv(synthetic_data["test"]), processor, get_family("llava-next-video"),
                            config.num_frames)
    return TrainCollator(processor.tokenizer.pad_token_id)([data[i] for i in range(len(data))])


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def test_merged_model_matches_base_plus_adapter_and_loads_without_peft(trained, batch, tmp_path):
    """The adapter was trained on a 4-bit base; merged into the float32 base it gives base+adapter's logits."""
    result, config = trained
    out = merge_adapter(config.model, result.adapter_dir, tmp_path / "merged", dtype=torch.float32)
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    expected = logits(load_adapter(config.model, result.adapter_dir, quantization="none", dtype=torch.float32), batch)
    merged = transformers.LlavaNextVideoForConditionalGeneration.from_pretrained(out)  # plain transformers
    got = logits(merged, batch)
    base = logits(load_model(config.model, quantization="none"), batch)
    assert (base - expected).abs().max() > 1.0  # the adapter (and trained projector) change the outputs a lot…
    assert torch.allclose(got, expected, rtol=0, atol=1e-4), (got - expected).abs().max()  # …the merge keeps it
    assert load_processor(str(out)).tokenizer.pad_token == "<pad>"  # the folder is a complete checkpoint


def test_merging_into_4bit_weights_is_lossy_and_the_dequantized_merge_is_not(trained, batch, tmp_path):
    """Why merge_adapter never merges in 4-bit: requantizing W + BA rounds the update away."""
    result, config = trained
    qlora = load_adapter(config.model, result.adapter_dir, quantization="4bit")
    trained_logits = logits(qlora, batch)
    in_4bit = logits(qlora.merge_and_unload(), batch)  # peft's own merge into the NF4 layers
    out = merge_adapter(config.model, result.adapter_dir, tmp_path / "deq", onto="dequantized-4bit",
                        dtype=torch.float32)
    dequantized = logits(transformers.LlavaNextVideoForConditionalGeneration.from_pretrained(out), batch)
    lost, kept = (in_4bit - trained_logits).abs().max(), (dequantized - trained_logits).abs().max()
    assert lost > 1.0 and kept < 0.1 and lost > 20 * kept, (lost, kept)
    assert "quantization_config" not in json.loads((out / "config.json").read_text())


def test_an_adapter_repository_with_a_subfolder_loads(trained, batch, tmp_path):
    result, config = trained
    repo = tmp_path / "published"
    shutil.copytree(result.adapter_dir, repo / "adapter")  # the seed's repo: the adapter one folder down
    direct = logits(load_adapter(config.model, result.adapter_dir, quantization="none"), batch)
    nested = logits(load_adapter(config.model, repo, subfolder="adapter", quantization="none"), batch)
    assert torch.equal(direct, nested)
    with pytest.raises(FileNotFoundError, match=r"adapter_config.json missing; found \['adapter'\]"):
        load_adapter(config.model, repo)


def test_model_card_names_base_data_frames_lora_and_metrics(trained, tmp_path):
    result, config = trained
    folder = tmp_path / "adapter"
    shutil.copytree(result.adapter_dir, folder)
    (folder / "metrics.json").write_text(json.dumps({"vanilla": {"BLEU-4": 0.0123, "CIDEr": 0.5, "METEOR": None},
                                                     "fine-tuned": {"BLEU-4": 0.4567, "CIDEr": 2.25,
                                                                    "METEOR": None}}))
    card = model_card(folder, "me/tiny-llava-synthetic")
    assert card.startswith("---\n") and "library_name: peft" in card
    assert "# me/tiny-llava-synthetic" in card
    assert f"| base model | `{config.model}` (4bit base, QLoRA) |" in card
    assert "| data | not recorded (32 clips) |" in card and "| frames per clip | 4 |" in card
    assert "| LoRA | r=16, alpha=32, dropout=0.0 |" in card and "| trained in full | multi_modal_projector |" in card
    assert "q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj" in card
    assert "| steps | 60 |" in card and "| batch | 8 × 1 accumulation × 1 device(s) |" in card
    assert "| metric | vanilla | fine-tuned |" in card and "| BLEU-4 | 0.0123 | 0.4567 |" in card
    assert "| METEOR | — | — |" in card and "| CIDEr | 0.5 | 2.25 |" in card
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert f"| loss | {losses[0]:.4f} → {losses[-1]:.4f} |" in card
    assert f'load_adapter("{config.model}", "me/tiny-llava-synthetic")' in card


class FakeHfApi:
    """Stands in for huggingface_hub.HfApi: records the calls and what the uploaded folder held at upload time."""

    calls: list = []

    def __init__(self, token=None, **kwargs):
        self.calls.append(("init", token))

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None, **kwargs):
        self.calls.append(("create_repo", repo_id, private, exist_ok, repo_type))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, repo_id, folder_path, repo_type=None, commit_message=None, **kwargs):
        from pathlib import Path

        files = {p.name: p.read_bytes() for p in Path(folder_path).rglob("*") if p.is_file()}
        self.calls.append(("upload_folder", repo_id, repo_type, files, kwargs))


def test_push_to_hub_uploads_the_adapter_and_card_but_no_secrets(trained, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    result, _ = trained
    folder = tmp_path / "adapter"
    shutil.copytree(result.adapter_dir, folder)
    record = json.loads((folder / "run.json").read_text())
    record["config"]["extra_training_args"] = {"hub_token": "hf_SECRETsecret", "report_to": "none"}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "optimizer.pt").write_bytes(b"pickle")  # e.g. copied from a checkpoint: never published
    (folder / "checkpoint-5").mkdir()
    metrics = tmp_path / "eval" / "metrics.json"
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"vanilla": {"CIDEr": 0.1}, "fine-tuned": {"CIDEr": 1.5}}))
    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)

    url = push_to_hub(folder, "me/tiny-adapter", token="hf_SECRETsecret", metrics=metrics)

    assert url == "https://huggingface.co/me/tiny-adapter"
    init, create, upload = FakeHfApi.calls
    assert init == ("init", "hf_SECRETsecret") and create == ("create_repo", "me/tiny-adapter", True, True, "model")
    _, repo, repo_type, files, extra = upload
    assert repo == "me/tiny-adapter" and repo_type == "model" and not extra
    processor_files = {p.name for p in result.adapter_dir.iterdir()} - {"adapter_config.json",
                                                                       "adapter_model.safetensors", "run.json"}
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors", "run.json", "metrics.json",
                          "README.md", *processor_files}
    assert "tokenizer.json" in files and "optimizer.pt" not in files
    assert files["adapter_model.safetensors"] == (result.adapter_dir / "adapter_model.safetensors").read_bytes()
    assert b"| CIDEr | 0.1 | 1.5 |" in files["README.md"]
    uploaded_record = json.loads(files["run.json"])
    assert uploaded_record["config"]["extra_training_args"] == {"hub_token": "<redacted>", "report_to": "none"}
    shown = capsys.readouterr()
    assert f"Uploaded {len(files)} files to https://huggingface.co/me/tiny-adapter" in shown.out
    assert all(b"SECRET" not in content for content in files.values())
    assert "SECRET" not in shown.out + shown.err


def test_push_to_hub_refuses_a_folder_without_an_adapter(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json missing"):
        push_to_hub(tmp_path, "me/x")


def test_staging_never_follows_a_symlink_out_of_the_adapter_folder(trained, tmp_path):
    from vidlm.adapters import stage_for_upload

    result, _ = trained
    folder = tmp_path / "adapter"
    shutil.copytree(result.adapter_dir, folder)
    outside = tmp_path / "private" / "id_rsa"
    outside.parent.mkdir()
    outside.write_text("PRIVATE KEY")
    (folder / "notes.txt").symlink_to(outside)
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(ValueError, match=r"notes\.txt.* outside the adapter folder"):
        stage_for_upload(folder, stage, "me/x")
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in stage.rglob("*") if p.is_file())
    (folder / "notes.txt").unlink()
    (folder / "notes.txt").symlink_to(folder / "adapter_config.json")  # a link that stays inside is fine
    assert "notes.txt" in stage_for_upload(folder, stage, "me/x")


def test_model_card_names_a_local_base_as_a_path_and_a_hub_base_as_a_link(trained, tmp_path):
    result, config = trained
    folder = tmp_path / "adapter"
    shutil.copytree(result.adapter_dir, folder)
    card = model_card(folder, "me/x")
    assert "huggingface.co//" not in card and f"https://huggingface.co/{config.model}" not in card
    assert f"the local model `{config.model}`" in card and "base_model:" not in card  # the hub wants an id there
    settings = json.loads((folder / "adapter_config.json").read_text())
    settings["base_model_name_or_path"] = "llava-hf/LLaVA-NeXT-Video-7B-hf"
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    card = model_card(folder, "me/x")
    assert "[`llava-hf/LLaVA-NeXT-Video-7B-hf`](https://huggingface.co/llava-hf/LLaVA-NeXT-Video-7B-hf)" in card
    assert "base_model: llava-hf/LLaVA-NeXT-Video-7B-hf" in card
