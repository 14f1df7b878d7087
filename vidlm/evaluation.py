"""Caption a split with the vanilla and the fine-tuned model (one generation config), score both, write the table.

    config = EvaluateConfig(model="llava-hf/LLaVA-NeXT-Video-7B-hf", adapter="runs/mixkit/adapter", num_frames=8)
    result = evaluate_models(config, read_captions_csv("test/captions.csv"))
    result.paths  # captions.csv (per-sample scores), metrics.json, metrics.md, run.json (config + versions)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidlm.config import EvaluateConfig  # defined with the other configs; importable from here too
from vidlm.data.samples import Sample


@dataclass
class EvaluationResult:
    captions: dict[str, list[str]]
    scores: dict  # model name -> CaptionScores
    paths: dict[str, Path] = field(default_factory=dict)


def evaluate_models(config: EvaluateConfig, samples: list[Sample], references: list[list[str]] | None = None):
    """Caption `samples` with the vanilla model (and base + adapter), score each, write the results table.

    references: the reference captions of each sample; by default each sample's own answer.
    """
    from vidlm.adapters import load_adapter
    from vidlm.budget import check_before_loading
    from vidlm.captioning import caption_videos
    from vidlm.families import family_for
    from vidlm.prompts import format_prompt
    from vidlm.viewing.compare import write_comparison
    from vidlm.metrics.scores import score_captions
    from vidlm.models import load_model, load_options, load_processor
    from vidlm.runtime.runinfo import write_run_record

    prompt = config.instruction()
    if not samples:
        raise ValueError("No samples to evaluate")
    if references is None:
        missing = [s.id for s in samples if not s.answer]
        if missing:
            raise ValueError(f"Samples without a reference caption: {missing[:10]}; pass references=...")
        references = [[s.answer] for s in samples]
    if config.adapter and not Path(config.adapter, "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {config.adapter!r} (adapter_config.json missing)")
    options = load_options(config.gpus_per_process, config.max_memory_gib, config.attn_implementation)
    processor = load_processor(config.model)
    videos = [s.video for s in samples]
    family = family_for(config.model)
    check_before_loading(config.model, processor, family, config.num_frames,
                         format_prompt(family, prompt, processor=processor).text, config.max_new_tokens,
                         [(s.id, s.video) for s in samples])  # before any weight loads
    models = {"vanilla": lambda: load_model(config.model, quantization=config.quantization, **options)}
    if config.adapter:
        models["fine-tuned"] = lambda: load_adapter(config.model, config.adapter, quantization=config.quantization,
                                                      **options)
    captions, scores = {}, {}
    for name, load in models.items():
        captions[name] = caption_videos(load(), processor, videos, prompt, num_frames=config.num_frames,
                                        batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)
        scores[name] = score_captions(captions[name], references, meteor=config.meteor)
    ids = [s.id for s in samples]
    paths = write_comparison(config.output_dir, ids, videos, references, captions, scores)
    paths["record"] = write_run_record(Path(config.output_dir) / "run.json", config, prompt=prompt,
                                       samples=len(samples),
                                       scores={n: dict(s) for n, s in scores.items()})
    return EvaluationResult(captions, scores, paths)
