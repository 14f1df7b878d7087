"""LoRA adapters after training (`finetune` saves them): load onto the base (local folder or hub repo), merge,
publish with a card.

An adapter folder (or hub repository) holds `adapter_config.json` + `adapter_model.safetensors` at its root or in a
subfolder, usually with the processor files, vidlm's `run.json` and the evaluation's `metrics.json`.

    model = load_adapter("llava-hf/LLaVA-NeXT-Video-7B-hf", "me/llava-mixkit", subfolder="adapter")
    merge_adapter("llava-hf/LLaVA-NeXT-Video-7B-hf", "runs/mixkit/adapter", "runs/mixkit/merged")
    push_to_hub("runs/mixkit/adapter", "me/llava-mixkit")  # private; README.md model card generated

Why merge into a 16/32-bit base, never into the 4-bit one: NF4 stores each weight as one of 16 levels per block
(steps of roughly 1/8 of the block's largest weight). A LoRA update BA is far smaller than that step, so adding it to
4-bit weights and quantizing again rounds most of it away and moves other weights to different levels: the merged
4-bit model is neither the base nor the fine-tuned model. Merging into the full-precision base keeps BA exactly;
the merged model can still be loaded in 4-bit afterwards (quantizing W + BA once, like the base was).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

# Never published: pickles (optimizer state, RNG state) and anything that is not a file of the adapter itself.
_PRIVATE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # "org/name" or "name"; a folder path is not one


def adapter_location(adapter, subfolder: str | None = None) -> tuple[str, dict]:
    """(path or repo id, extra `from_pretrained` kwargs) for an adapter folder, or a hub repo with an optional
    subfolder; a local folder without `adapter_config.json` raises with what it does contain."""
    local = Path(adapter, subfolder or "")
    if Path(adapter).is_dir():
        if not (local / "adapter_config.json").is_file():
            found = sorted(p.name for p in local.iterdir()) if local.is_dir() else "no such folder"
            raise FileNotFoundError(f"No LoRA adapter in {os.fspath(local)!r} (adapter_config.json missing; found "
                                    f"{found}). Pass the folder that holds it, or subfolder=...")
        return os.fspath(local), {}
    return str(adapter), ({"subfolder": subfolder} if subfolder else {})  # a hub repo id


def load_adapter(base_id: str, adapter, subfolder: str | None = None, quantization="4bit", dtype=None,
                 device_map=None, is_trainable: bool = False, **load_options):
    """The base model from `base_id` with the adapter from a folder or hub repo (`subfolder` inside it) applied.

    is_trainable: keep training the adapter (otherwise it is loaded frozen, in eval mode).
    load_options: more keywords for `load_model` (max_memory, attn_implementation).
    """
    from peft import PeftModel

    from vidlm.lora import peft_quietly
    from vidlm.models import load_model

    where, kwargs = adapter_location(adapter, subfolder)
    base = load_model(base_id, quantization=quantization, dtype=dtype, device_map=device_map, **load_options)
    with peft_quietly():
        model = PeftModel.from_pretrained(base, where, is_trainable=is_trainable, **kwargs)
    return model if is_trainable else model.eval()


def merge_adapter(base_id: str, adapter, output_dir, dtype="auto", subfolder: str | None = None,
                  onto: Literal["full", "dequantized-4bit"] = "full", device_map=None) -> Path:
    """Merge the adapter into an unquantized copy of the base and save it (safetensors) with the processor.

    The result loads with plain `from_pretrained(output_dir)` — no peft needed. Works for adapters trained on a 4-bit
    base (QLoRA); the merge itself never happens in 4-bit (see the module docstring for why).
    onto: "full" — the base's original weights in `dtype` ("auto" = the checkpoint's own, e.g. float16 for the 7B
    hub models); the usual choice, and what a user who loads the base in 16-bit gets. "dequantized-4bit" — the
    NF4 weights the adapter was trained against, dequantized to `dtype` (compute dtype for "auto"): reproduces the
    QLoRA model's outputs closely (the NF4 rounding error of the base is kept, not undone).
    A 7B model needs ~15 GB of memory in 16-bit wherever `device_map` puts it.
    """
    from peft import PeftModel

    from vidlm.models import load_model
    from vidlm.runtime.runinfo import write_run_record

    where, kwargs = adapter_location(adapter, subfolder)
    if onto == "full":
        base = load_model(base_id, quantization="none", dtype=dtype, device_map=device_map)
    elif onto == "dequantized-4bit":
        base = load_model(base_id, quantization="4bit", dtype=None if dtype == "auto" else dtype,
                          device_map=device_map).dequantize()
    else:
        raise ValueError(f"Unknown onto={onto!r}; choose 'full' or 'dequantized-4bit'")
    merged = PeftModel.from_pretrained(base, where, **kwargs).merge_and_unload()  # W + (alpha/r)·BA per layer;
    out = Path(output_dir)                                                       # a trained projector replaces W
    merged.save_pretrained(out, safe_serialization=True)
    adapter_processor(base_id, adapter, subfolder).save_pretrained(out)
    write_run_record(out / "merge.json", {"base_model": base_id, "adapter": str(adapter), "subfolder": subfolder,
                                          "onto": onto, "dtype": str(dtype)})
    return out


def adapter_processor(base_id: str, adapter, subfolder: str | None = None):
    """The processor saved with the adapter (what training used), or the base model's when it has none."""
    import transformers

    from vidlm.families import family_of
    from vidlm.models import load_config, load_processor

    where, kwargs = adapter_location(adapter, subfolder)
    if Path(where).is_dir() and not (Path(where) / "tokenizer_config.json").is_file():
        return load_processor(base_id)
    family = family_of(load_config(base_id))
    try:
        processor = getattr(transformers, family.processor_class).from_pretrained(where, **kwargs)
    except OSError:  # a hub adapter repo without processor files
        return load_processor(base_id)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
    return processor


def model_card(adapter_dir, repo_id: str | None = None, metrics=None) -> str:
    """A README.md for the adapter: base model, data, frames, LoRA settings, metrics and how to load it.

    Reads `adapter_config.json`, and `run.json` / `metrics.json` when the folder has them.
    metrics: another `metrics.json` to show (e.g. the one `evaluate_models` wrote), if the folder has none.
    """
    from huggingface_hub import ModelCardData

    adapter_dir = Path(adapter_dir)
    lora = json.loads((adapter_dir / "adapter_config.json").read_text())
    run = _read_json(adapter_dir / "run.json")
    config = run.get("config", {})
    metrics = _read_json(Path(metrics) if metrics else adapter_dir / "metrics.json")
    base = lora.get("base_model_name_or_path") or config.get("model", "?")
    on_hub = is_hub_id(base)
    name = repo_id or adapter_dir.name
    family = run.get("family", "")
    data = ModelCardData(base_model=base if on_hub else None, library_name="peft",  # the hub takes only ids there
                         tags=["vidlm", "lora", "video-text-to-text", *([family] if family else [])])
    named = f"[`{base}`](https://huggingface.co/{base})" if on_hub else f"the local model `{base}`"
    steps = config.get("max_steps")
    losses = [h["loss"] for h in run.get("log_history", []) if "loss" in h]
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {name}", "",
        f"A LoRA adapter for {named}, fine-tuned with "
        f"[vidlm](https://github.com/vidlm/vidlm) to caption videos.", "",
        "## Training", "",
        "| setting | value |", "| --- | --- |",
        f"| base model | `{base}` ({config.get('quantization', '?')} base{', QLoRA' if config.get('quantization') == '4bit' else ''}) |",
        f"| data | {config.get('dataset') or 'not recorded'} ({run.get('train_samples', '?')} clips) |",
        f"| frames per clip | {config.get('num_frames', '?')} |",
        f"| LoRA | r={lora.get('r')}, alpha={lora.get('lora_alpha')}, dropout={lora.get('lora_dropout')} |",
        f"| LoRA targets | `{_targets(lora.get('target_modules'))}` |",
        f"| trained in full | {', '.join(lora.get('modules_to_save') or []) or 'nothing'} |",
        f"| learning rate | {config.get('learning_rate', '?')} |",
        f"| steps | {steps if steps and steps > 0 else str(config.get('num_epochs', '?')) + ' epoch(s)'} |",
        f"| batch | {config.get('batch_size', '?')} × {config.get('gradient_accumulation_steps', 1)} accumulation "
        f"× {run.get('world_size', 1)} device(s) |",
    ]
    if losses:
        lines.append(f"| loss | {losses[0]:.4f} → {losses[-1]:.4f} |")
    if metrics:
        lines += ["", "## Evaluation", "", *_metrics_table(metrics)]
    versions = run.get("versions", {})
    if versions:
        lines += ["", "Library versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()
                                                      if v and k not in ("python", "platform")) + "."]
    lines += [
        "", "## Use it", "",
        "```python",
        "from vidlm.adapters import load_adapter",
        f'model = load_adapter("{base}", "{name}")  # 4-bit base + this adapter',
        "```", "",
        "or with peft alone:", "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForImageTextToText",
        f'model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("{base}"), "{name}")',
        "```", "",
        f"Sample {config.get('num_frames', 8)} frames uniformly per clip, as in training.", "",
    ]
    return "\n".join(lines)


def push_to_hub(adapter_dir, repo_id: str, private: bool = True, token: str | None = None, metrics=None,
                commit_message: str = "Upload LoRA adapter (vidlm)") -> str:
    """Upload the adapter folder's files and a generated README.md model card to `repo_id`; returns the repo URL.

    Uploaded: the top-level files of `adapter_dir` except pickles (no optimizer or RNG state); secrets in `run.json`
    (keys naming a token, password, secret or key) are redacted first; a symlink out of the folder is refused. token: None = the saved `huggingface-cli login` or HF_TOKEN.
    """
    from huggingface_hub import HfApi

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {os.fspath(adapter_dir)!r} (adapter_config.json missing)")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    with tempfile.TemporaryDirectory() as stage:
        files = stage_for_upload(adapter_dir, stage, repo_id, metrics)
        api.upload_folder(repo_id=repo_id, folder_path=stage, repo_type="model", commit_message=commit_message)
    print(f"Uploaded {len(files)} files to {url}")
    return str(url)


def stage_for_upload(adapter_dir, stage, repo_id: str | None = None, metrics=None) -> list[str]:
    """Copy what `push_to_hub` publishes into `stage` (plus the model card); returns the file names.

    A symlink whose target lies outside `adapter_dir` is refused (ValueError), so a link can never publish a file
    from elsewhere (a key, another run's data).
    """
    from vidlm.runtime.atomic import write_text
    from vidlm.runtime.runinfo import redact

    adapter_dir, stage = Path(adapter_dir), Path(stage)
    inside = adapter_dir.resolve()
    paths = sorted(adapter_dir.iterdir())
    for path in paths:
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            raise ValueError(f"{os.fspath(path)!r} is a symlink to {os.fspath(path.resolve())!r}, outside the "
                             "adapter folder: nothing was staged. Copy the file into the folder or remove the link")
    for path in paths:
        if not path.is_file() or path.name.startswith(".") or path.suffix in _PRIVATE_SUFFIXES:
            continue
        if path.name == "run.json":
            write_text(stage / path.name, json.dumps(redact(json.loads(path.read_text())), indent=2))
        else:
            shutil.copy2(path, stage / path.name)
    if metrics and not (stage / "metrics.json").exists():
        shutil.copy2(metrics, stage / "metrics.json")
    write_text(stage / "README.md", model_card(adapter_dir, repo_id, metrics))
    return sorted(p.name for p in stage.iterdir())


def is_hub_id(name: str) -> bool:
    """Whether `name` reads as a hub repo id rather than a local folder (an existing folder is always local)."""
    return bool(_HUB_ID.match(name)) and not Path(name).expanduser().exists()


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _targets(targets) -> str:
    return targets if isinstance(targets, str) else ", ".join(sorted(targets or []))


def _metrics_table(metrics: dict) -> list[str]:
    """metrics.json as written by `evaluate_models` ({model: {metric: value}}) or a flat {metric: value}."""
    if metrics and all(isinstance(v, dict) for v in metrics.values()):
        models = list(metrics)
        names = [n for n in metrics[models[0]] if not isinstance(metrics[models[0]][n], (dict, list))]
        rows = ["| metric | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
        rows += [f"| {n} | " + " | ".join(_fmt(metrics[m].get(n)) for m in models) + " |" for n in names]
        return rows
    return ["| metric | value |", "| --- | --- |", *[f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]]


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
