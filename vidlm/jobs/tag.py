"""Object and action tags from captions with a chat LLM: one-shot prompt, left-padded batched greedy decoding.

    vidlm tag captions.csv --output tags.csv --model Qwen/Qwen2.5-0.5B-Instruct --key both
    torchrun --nproc_per_node 4 -m vidlm.cli tag captions.csv --output tags.csv   # 4 shards

    result = tag_csv(TagConfig("captions.csv", "tags.csv", key="objects"))
    model, tokenizer = load_tagger("Qwen/Qwen2.5-0.5B-Instruct")
    tag_captions(model, tokenizer, ["A dog runs after a ball."], "objects")   # [Tags(['dog', 'ball'], '[dog, ball]')]

Any transformers causal LM whose tokenizer has a chat template works. The prompt shows one worked example (as
Open-Sora's Llama-3 tagger did: "[dog, person]" / "[run, laugh]"), then the caption; the reply's first `[...]` is
the list. Unlike Open-Sora's tagger, prompts are padded on the left, so every row of a batch generates from its own
last token (right padding with EOS makes the short rows continue after padding), and each row gets its own record.

Output (`vidlm.jobs.rows`: part files, resume after kill -9, shards, merge in input order): the input columns, then
`objects` and/or `actions` as JSON lists (`["dog", "ball"]`), `objects_raw`/`actions_raw` holding the reply when it
has no list (else empty), and `tag_status` (`ok`, or `failed` with the reason in `tag_error`). Its row, status and
error columns carry a `tag_` prefix so that a `vidlm caption` output (row, text, status, error) is a valid input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vidlm.jobs.caption_files import FAILED, OK, Layout, RowJobError, read_input
from vidlm.config import TagConfig, model_source_problem  # TagConfig: importable from here too
from vidlm.jobs.rows import RowJob, RowsResult, Shard, check_paths, run_rows

ROW, STATUS, ERROR = "tag_row", "tag_status", "tag_error"
KEYS = {"objects": ("objects",), "actions": ("actions",), "both": ("objects", "actions")}
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

INSTRUCTIONS = {
    "objects": "Read the video caption below and list the objects, animals and people it mentions, each as a short "
               "noun. Reply with the list only, in square brackets, items separated by commas; reply [] if there "
               "are none.",
    "actions": "Read the video caption below and list the actions it describes, each as a verb in its base form. "
               "Reply with the list only, in square brackets, items separated by commas; reply [] if there are "
               "none.",
}
EXAMPLE_CAPTION = "A woman in a red coat walks her dog along the beach while two children fly a kite."
EXAMPLE_REPLIES = {"objects": "[woman, coat, dog, beach, children, kite]", "actions": "[walk, fly]"}


@dataclass
class Tags:
    """One caption's tags for one key: the parsed list (None when the reply holds no `[...]` list) and the reply."""

    tags: list[str] | None
    reply: str


def messages(key: str, caption: str) -> list[dict]:
    """The one-shot chat: the instruction with a worked example, its answer, then the caption to tag."""
    return [{"role": "user", "content": f"{INSTRUCTIONS[key]}\n\nCaption: {EXAMPLE_CAPTION}"},
            {"role": "assistant", "content": EXAMPLE_REPLIES[key]},
            {"role": "user", "content": f"Caption: {caption}"}]


def parse_tags(reply: str) -> list[str] | None:
    """The items of the first `[...]` in `reply`, stripped of spaces and quotes, empties and repeats dropped, in
    order; None when there is no closed list (a reply cut short by max_new_tokens, or prose)."""
    start = reply.find("[")
    end = reply.find("]", start + 1)
    if start < 0 or end < 0:
        return None
    items = (item.strip().strip("\"'`").strip() for item in reply[start + 1:end].split(","))
    return list(dict.fromkeys(item for item in items if item))


def load_tagger(model_id: str = DEFAULT_MODEL, device_map=None, dtype=None):
    """(model, tokenizer) for tagging: the tokenizer pads on the left and has a pad token; `RowJobError` (one line)
    for a folder or id that is not a chat causal LM."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vidlm.models import compute_dtype
    from vidlm.runtime.progress import use_for_transformers

    problem = model_source_problem(model_id, example=DEFAULT_MODEL)
    if problem:
        raise RowJobError(problem)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
    except (OSError, ValueError) as err:  # what from_pretrained raises for a missing repo, folder or file
        raise RowJobError(f"Cannot load the tokenizer of {model_id!r}: {err}") from err
    if not getattr(tokenizer, "chat_template", None):
        raise RowJobError(f"{model_id!r} has no chat template: pass an instruct/chat model such as {DEFAULT_MODEL}")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # left padding is masked, so any token will do
        tokenizer.pad_token = tokenizer.eos_token
    use_for_transformers()
    if device_map is None and torch.cuda.is_available():
        device_map = {"": 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype or compute_dtype(), device_map=device_map)
    except (OSError, ValueError) as err:  # ValueError: a config that is no causal LM (a video model's, say)
        raise RowJobError(f"Cannot load {model_id!r} as a causal LM: {' '.join(str(err).split())[:300]}") from err
    return model.eval(), tokenizer


def _generation_config(model, tokenizer, max_new_tokens: int):
    """Greedy, stopping at the model's end-of-turn token(s) as well as the tokenizer's EOS."""
    from transformers import GenerationConfig

    eos = model.generation_config.eos_token_id
    eos = [*(eos if isinstance(eos, list) else [eos] if eos is not None else []), tokenizer.eos_token_id]
    return GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, repetition_penalty=1.0,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=list(dict.fromkeys(eos)))


def _replies(model, tokenizer, captions: list[str], key: str, gen) -> list[str]:
    import torch

    prompts = [tokenizer.apply_chat_template(messages(key, c), tokenize=False, add_generation_prompt=True)
               for c in captions]
    # The template writes BOS where the model wants one, so the tokenizer must not add another.
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        out = model.generate(**batch, generation_config=gen)
    return tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def tag_captions(model, tokenizer, captions: list[str], key: str = "objects", batch_size: int = 16,
                 max_new_tokens: int = 48) -> list[Tags]:
    """One `Tags` per caption, in order; `key` is "objects" or "actions"."""
    if key not in INSTRUCTIONS:
        raise ValueError(f"Unknown key {key!r}; choose one of {list(INSTRUCTIONS)}")
    gen = _generation_config(model, tokenizer, max_new_tokens)
    replies = []
    for start in range(0, len(captions), batch_size):
        replies += _replies(model, tokenizer, captions[start:start + batch_size], key, gen)
    return [Tags(parse_tags(reply), reply.strip()) for reply in replies]


def layout(config: TagConfig) -> Layout:
    keys = KEYS[config.key]
    return Layout(command="vidlm tag", column=config.column,
                  column_hint=f"Name the column that holds the captions with --column (now {config.column!r}).",
                  added=(*keys, *[f"{k}_raw" for k in keys]), row=ROW, status=STATUS, error=ERROR)


def settings(config: TagConfig) -> dict:
    """What the tags depend on; a resume must use the same (batch size does not change them)."""
    from pathlib import Path

    model = str(Path(config.model).resolve()) if Path(config.model).exists() else config.model
    return {"model": model, "key": config.key, "column": config.column, "max_new_tokens": config.max_new_tokens,
            "prompts": {k: messages(k, "{caption}") for k in KEYS[config.key]}}


def tag_csv(config: TagConfig) -> RowsResult:
    """Tag every caption of `config.input_csv` into `config.output_csv`, resuming from what is already there."""
    check_paths(config.input_csv, config.output_csv)
    problem = model_source_problem(config.model, example=DEFAULT_MODEL)
    if problem:
        raise RowJobError(problem)
    table = read_input(config.input_csv, layout(config))
    job = RowJob(table, config.output_csv, settings(config), config, retry_failed=config.retry_failed,
                 fsync_every_s=config.fsync_every_s, wait_timeout_s=config.wait_timeout_s, progress=config.progress,
                 unit="caption", desc="tagging")
    import torch

    threads = torch.get_num_threads()
    try:
        return run_rows(job, lambda shard: _tag_rows(table.rows, config, shard))
    finally:
        torch.set_num_threads(threads)


def _tag_rows(rows: list[dict], config: TagConfig, shard: Shard):
    """Load the model, then return an iterator of record batches, longest captions first."""
    import torch

    torch.set_num_threads(config.torch_threads or max(1, torch.get_num_threads() // shard.proc.local_world_size))
    device_map = {"": shard.proc.local_rank % torch.cuda.device_count()} if torch.cuda.is_available() else None
    model, tokenizer = load_tagger(config.model, device_map=device_map)
    keys = KEYS[config.key]
    text = {r: rows[r][config.column].strip() for r in shard.rows}
    # Similar lengths share a batch (less padding); longest first meets an out-of-memory batch at the start.
    order = sorted((r for r in shard.rows if text[r]), key=lambda r: (-len(text[r]), r))
    empty = [{ROW: r, STATUS: FAILED, ERROR: f"empty `{config.column}`"} for r in shard.rows if not text[r]]

    def records():
        if empty:
            yield empty
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            found = {k: tag_captions(model, tokenizer, [text[r] for r in batch], k, len(batch), config.max_new_tokens)
                     for k in keys}
            yield [_record(row, {k: found[k][i] for k in keys}) for i, row in enumerate(batch)]

    return records()


def _record(row: int, tags: dict[str, Tags]) -> dict:
    record = {ROW: row}
    for key, found in tags.items():
        record[key] = "" if found.tags is None else json.dumps(found.tags, ensure_ascii=False)
        record[f"{key}_raw"] = found.reply if found.tags is None else ""
    bad = [key for key, found in tags.items() if found.tags is None]
    record[STATUS] = FAILED if bad else OK
    record[ERROR] = f"no [...] list in the reply for {', '.join(bad)} (kept in {', '.join(k + '_raw' for k in bad)})" \
        if bad else ""
    return record
