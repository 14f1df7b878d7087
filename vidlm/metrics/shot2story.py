"""The Shot2Story benchmark: caption its test split with a model (+ adapter), score it, print the papers' tables.

    config = Shot2StoryBenchConfig("data/shot2story/20k_test.json", "data/shot2story/videos",
                                   model="llava-hf/LLaVA-NeXT-Video-7B-hf", adapter="runs/s2s/adapter")
    result = benchmark_shot2story(config)
    print(result.tables["shots"])  # B / M / R / C × 100 beside the published rows

Two tasks, as Shot2Story defines them (`vidlm.data.sources.load_shot2story`): single-shot captioning (each shot → its
caption) and multi-shot summarization (the whole clip → `whole_caption`). Scores are `vidlm.metrics`' — equal to
pycocoevalcap's (PTB tokenizer, BLEU-4, METEOR 1.5, ROUGE-L, CIDEr-D) — so vidlm's row compares with Shot2Story's
own rows (LAVIS + pycocoevalcap), and not with Shotluck Holmes' (see `SCORERS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vidlm.config import CaptioningSettings, Config, model_source_problem, setting

TASKS = {"shots": "single-shot captioning", "summary": "multi-shot summarization"}
COLUMNS = {"B": "BLEU-4", "M": "METEOR", "R": "ROUGE-L", "C": "CIDEr"}


@dataclass(frozen=True)
class PublishedRow:
    model: str
    scorer: str  # a key of SCORERS
    shots: tuple  # B, M, R, C as printed in the paper (× 100)
    summary: tuple


# As printed in the papers. Shot2Story (Han et al.): its best 7B+ model with video and audio (ASR) input.
# Shotluck Holmes (Luo et al.): its 1.5B and 3.1B models.
PUBLISHED = [
    PublishedRow("Shot2Story (7B+)", "pycocoevalcap", ("10.7", "16.2", "29.6", "37.4"),
                 ("11.7", "19.7", "26.8", "8.6")),
    PublishedRow("Shotluck Holmes 1.5B", "cidereval", ("9.3", "25.3", "36.3", "68.9"),
                 ("6.48", "21.3", "40.2", "144.3")),
    PublishedRow("Shotluck Holmes 3.1B", "cidereval", ("8.7", "25.7", "36.2", "63.2"),
                 ("7.67", "23.2", "43", "152.3")),
]

SCORERS = {  # what each row was scored with
    "pycocoevalcap": "LAVIS + pycocoevalcap",
    "cidereval": "cidereval + HF evaluate, 1 reference",
    "vidlm": "vidlm.metrics (= pycocoevalcap)",
}

NOTES = [
    "B = BLEU-4, M = METEOR, R = ROUGE-L, C = CIDEr, all × 100.",
    "LAVIS + pycocoevalcap and vidlm.metrics give the same numbers for the same captions (PTB tokenizer, METEOR 1.5 in "
    "Java, CIDEr-D): those rows compare.",
    "Shotluck Holmes scored with cidereval and HF evaluate (nltk's METEOR, 0.25-0.3 off METEOR 1.5 on the same "
    "pair) against one reference: its rows compare with neither of the others.",
    "CIDEr weighs n-grams by how rare they are among the references scored: on part of the test split (or another "
    "split) it differs from the whole test split's.",
]


@dataclass
class _Shot2StoryFiles(Config):
    annotations: str = setting(help="Shot2Story annotation file of the split (20k_test.json)", nonempty=True,
                               metavar="JSON")
    video_dir: str = setting(help="the multi-shot clips (video_dir/<nvid>)", nonempty=True, metavar="DIR")


@dataclass
class Shot2StoryBenchConfig(CaptioningSettings, _Shot2StoryFiles):
    """What a Shot2Story benchmark run depends on. prompt / prompt_name, when given, replace both tasks'
    instructions (default: `vidlm.data.sources.shot2story`'s SHOT_PROMPT and SUMMARY_PROMPT)."""

    shot_dir: str | None = setting(None, "the shot files; missing ones are cut from their clip (default: "
                                         "video_dir/shots)", nonempty=True, metavar="DIR")
    tasks: Literal["both", "shots", "summary"] = setting("both", "single-shot captioning, multi-shot "
                                                                 "summarization, or both")
    with_asr: bool = setting(False, "put each shot's (or clip's) speech transcript into the prompt")
    limit: int | None = setting(None, "only the first N samples of each task (a quick look; CIDEr then differs "
                                      "from the whole split's)", ge=1)
    summary_max_new_tokens: int = setting(256, "longest summary, in tokens (max_new_tokens is for single shots)",
                                          ge=1)
    output_dir: str = setting("results/shot2story", "per task: captions.csv, metrics.json, metrics.md; and "
                                                    "tables.md, run.json", nonempty=True)
    meteor: bool | Literal["auto"] = setting("auto", "score METEOR 1.5 (needs Java); auto: None without Java")


@dataclass
class Shot2StoryResult:
    reports: dict  # task -> SkipReport (what the loader left out, and why)
    samples: dict  # task -> list[Sample]
    captions: dict  # task -> list[str]
    scores: dict  # task -> CaptionScores (pycocoevalcap's scale, 0-1)
    tables: dict  # task -> markdown table
    paths: dict = field(default_factory=dict)


def benchmark_table(task: str, scores: dict | None = None, label: str = "vidlm", samples: int | None = None) -> str:
    """The paper-style table of `task` ("shots" or "summary"): the published rows, then `scores` × 100 as `label`."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    lines = [f"Shot2Story {TASKS[task]}", "", "| model | B | M | R | C | scored with |", "|---|---|---|---|---|---|"]
    for row in PUBLISHED:
        lines.append(f"| {row.model}, published | " + " | ".join(getattr(row, task)) + f" | {SCORERS[row.scorer]} |")
    if scores is not None:
        values = ["—" if scores[m] is None else f"{100 * scores[m]:.2f}" for m in COLUMNS.values()]
        name = _cell(label) + (f", vidlm, {samples} samples" if samples is not None else ", vidlm")
        lines.append(f"| {name} | " + " | ".join(values) + f" | {SCORERS['vidlm']} |")
    return "\n".join(lines + [""] + [f"- {note}" for note in NOTES])


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def model_label(config: Shot2StoryBenchConfig) -> str:
    """`model` (its folder name for a local path), `+ adapter` when one is given."""
    name = Path(config.model).name if Path(config.model).exists() else config.model
    return f"{name} + {Path(config.adapter).name}" if config.adapter else name


def task_prompts(config: Shot2StoryBenchConfig) -> dict:
    """{task: instruction}: the config's prompt when it names one, else Shot2Story's loader defaults."""
    from vidlm.data.sources.shot2story import SHOT_PROMPT, SUMMARY_PROMPT

    tasks = list(TASKS) if config.tasks == "both" else [config.tasks]
    given = config.instruction() if config.prompt is not None or config.prompt_name is not None else None
    return {task: given or (SHOT_PROMPT if task == "shots" else SUMMARY_PROMPT) for task in tasks}


def load_tasks(config: Shot2StoryBenchConfig) -> dict:
    """{task: (samples, skip report)} of the tasks asked for (the first `limit` samples of each); raises when a task
    has no sample."""
    from vidlm.data.sources.shot2story import load_shot2story

    loaded = {}
    for task, prompt in task_prompts(config).items():
        samples, report = load_shot2story(config.annotations, config.video_dir, config.shot_dir, task=task,
                                          with_asr=config.with_asr, prompt=prompt)
        if not samples:
            raise ValueError(f"No {TASKS[task]} samples in {config.annotations}: {report.summary()}")
        loaded[task] = (samples[:config.limit] if config.limit else samples), report
    return loaded


def benchmark_shot2story(config: Shot2StoryBenchConfig) -> Shot2StoryResult:
    """Caption each task's samples with `config.model` (+ `config.adapter`), score them against their Shot2Story
    captions, write the captions, scores and tables under `config.output_dir`, and return them."""
    from vidlm.runtime.atomic import atomic_path, write_text
    from vidlm.adapters import load_adapter
    from vidlm.captioning import caption_videos
    from vidlm.viewing.compare import write_comparison
    from vidlm.metrics.scores import score_captions
    from vidlm.models import load_model, load_options, load_processor
    from vidlm.runtime.runinfo import write_run_record

    problem = model_source_problem(config.model)
    if problem:
        raise ValueError(problem)
    if config.adapter and not Path(config.adapter, "adapter_config.json").is_file():
        raise FileNotFoundError(f"No LoRA adapter in {config.adapter!r} (adapter_config.json missing)")
    options = load_options(config.gpus_per_process, config.max_memory_gib, config.attn_implementation)
    tasks = load_tasks(config)  # may cut shots from their clips: after the quick checks, before the weights
    processor = load_processor(config.model)
    if config.adapter:
        model = load_adapter(config.model, config.adapter, quantization=config.quantization, **options)
    else:
        model = load_model(config.model, quantization=config.quantization, **options)
    label, out = model_label(config), Path(config.output_dir)
    result = Shot2StoryResult({}, {}, {}, {}, {})
    for task, (samples, report) in tasks.items():
        result.reports[task] = report
        references = [[s.answer] for s in samples]  # Shot2Story has one human caption per shot and per clip
        limit = config.summary_max_new_tokens if task == "summary" else config.max_new_tokens
        captions = caption_videos(model, processor, [s.video for s in samples], [s.instruction for s in samples],
                                  num_frames=config.num_frames, batch_size=config.batch_size, max_new_tokens=limit)
        scores = score_captions(captions, references, meteor=config.meteor)
        result.samples[task], result.captions[task], result.scores[task] = samples, captions, scores
        result.tables[task] = benchmark_table(task, scores, label, len(samples))
        paths = write_comparison(out / task, [s.id for s in samples], [s.video for s in samples], references,
                                 {"caption": captions}, {"caption": scores})
        result.paths.update({f"{task} {name}": path for name, path in paths.items()})
    result.paths["tables"] = write_text(out / "tables.md", "\n\n".join(result.tables.values()) + "\n")
    with atomic_path(out / "run.json") as tmp:
        write_run_record(tmp, config, label=label, prompts=task_prompts(config),
                         samples={t: len(s) for t, s in result.samples.items()},
                         scores={t: dict(s) for t, s in result.scores.items()})
    result.paths["record"] = out / "run.json"
    return result
