"""`vidlm tag` / `tag_csv`: real generations of a tiny chat LM trained here to tag synthetic captions.

The model (a 2-layer Llama, word-level tokenizer with a chat template) learns in 1200 steps (~2 min on two
threads) to answer vidlm's one-shot prompts with the nouns or verbs of a caption, so batching, parsing and resume run
on what a model actually generated.
"""

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.row_job_files import env, kill_after_random_rows, rows_of
from vidlm.jobs.caption_files import RowJobError, list_parts, part_path, read_input, scan
from vidlm.cli import main
from vidlm.jobs.tag import (EXAMPLE_CAPTION, EXAMPLE_REPLIES, INSTRUCTIONS, TagConfig, layout, load_tagger, messages,
                           parse_tags, tag_captions, tag_csv)

NOUNS = ["dog", "cat", "man", "woman", "bird", "horse", "ball", "tree"]
VERBS = {"run": "runs", "jump": "jumps", "walk": "walks", "swim": "swims", "fly": "flies", "eat": "eats",
         "sit": "sits", "play": "plays"}
ADJECTIVES = ["red", "small", "big", "white", "old"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
SETTINGS = dict(max_new_tokens=12, progress=False, torch_threads=1)
# 600 steps learned the task under older torch/transformers but, with torch 2.15 / transformers 5.23, left objects
# or actions at 21-32 of 39 right depending on the seed (ball read as horse); 1200 steps got 33-39 of 39 for seeds
# 0-2 on three caption sets on one thread, 38-39 for seeds 0-1 on the two threads the fixture uses.
TRAIN_STEPS, TRAIN_SEED = 1200, 0


def synthetic_caption(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """A caption, its objects and its actions (base form); 0 to 2 adjectives vary the length, so batches pad."""
    n1, n2 = rng.sample(NOUNS, 2)
    verb = rng.choice(list(VERBS))
    adjectives = " ".join(rng.sample(ADJECTIVES, rng.randrange(3)))
    subject = f"a {adjectives} {n1}" if adjectives else f"a {n1}"
    return f"{subject} {VERBS[verb]} near the {n2}.", [n1, n2], [verb]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [*INSTRUCTIONS.values(), EXAMPLE_CAPTION, *EXAMPLE_REPLIES.values(), "Caption: [] , .",
              " ".join([*NOUNS, *ADJECTIVES, *VERBS, *VERBS.values(), "a", "the", "near"])]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(
        special_tokens=["<unk>", "<pad>", "<|user|>", "<|assistant|>", "<|end|>"]))
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # words joined by spaces, " ," tidied to ","
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>",
                                   chat_template=CHAT_TEMPLATE, model_max_length=512)


@pytest.fixture(scope="session")
def tagger(tmp_path_factory) -> str:
    """The folder of a tiny chat LM trained on synthetic caption → tags pairs (both prompts)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tagger")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # fixed, not the machine's count, so the weights are the same everywhere; 1.5x one thread
    torch.manual_seed(TRAIN_SEED)
    rng = random.Random(TRAIN_SEED)
    tokenizer = build_tokenizer()
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
        initializer_range=0.1))  # at the default 0.02 it stayed at the no-copying plateau for 500 steps

    def example():
        key = rng.choice(["objects", "actions"])
        caption, objects, actions = synthetic_caption(rng)
        prompt = tokenizer.apply_chat_template(messages(key, caption), tokenize=False, add_generation_prompt=True)
        answer = " [" + ", ".join(objects if key == "objects" else actions) + "] <|end|>"
        p, a = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (prompt, answer))
        return p + a, [-100] * len(p) + a  # loss on the reply only

    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=TRAIN_STEPS, pct_start=0.1)
    try:
        for _ in range(TRAIN_STEPS):
            batch = [example() for _ in range(16)]
            width = max(len(ids) for ids, _ in batch)
            pad = [[tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in batch]
            loss = model(input_ids=torch.tensor([ids + p for (ids, _), p in zip(batch, pad)]),
                         attention_mask=torch.tensor([[1] * len(ids) + [0] * len(p) for (ids, _), p in zip(batch, pad)]),
                         labels=torch.tensor([labels + [-100] * len(p) for (_, labels), p in zip(batch, pad)])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def loaded(tagger):
    return load_tagger(tagger)



def captions_csv(path, count: int, seed: int = 1, empty_at=()) -> tuple[Path, list[tuple]]:
    """A CSV shaped like `vidlm caption`'s output (row, path, text, status, error) and each row's truth."""
    rng = random.Random(seed)
    truth = [synthetic_caption(rng) for _ in range(count)]
    for i in empty_at:
        truth[i] = ("", [], [])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "path", "text", "status", "error"])
        for i, (text, _, _) in enumerate(truth):
            writer.writerow([i, f"clip{i}.mp4", text, "ok" if text else "failed", "" if text else "bad video"])
    return Path(path), truth



PARSED = {
    "[dog, person]": ["dog", "person"],
    "[ dog , ball ]": ["dog", "ball"],
    'Objects: ["dog", \'a red ball\', dog] — that is all.': ["dog", "a red ball"],
    "[]": [],
    "[run, , laugh,]": ["run", "laugh"],
    "[dog, ball": None,  # cut short by max_new_tokens
    "There is a dog and a ball.": None,
    "": None,
}


@pytest.mark.parametrize("reply", PARSED)
def test_parse_tags_reads_the_first_closed_list(reply):
    assert parse_tags(reply) == PARSED[reply]


@pytest.fixture(scope="module")
def reference(tagger, tmp_path_factory):
    """An uninterrupted run over 40 captions (one empty) with both keys: the input, its truth and the output rows."""
    folder = tmp_path_factory.mktemp("reference")
    source, truth = captions_csv(folder / "captions.csv", 40, empty_at=(7,))
    out = folder / "tags.csv"
    result = tag_csv(TagConfig(str(source), str(out), model=tagger, key="both", batch_size=6, **SETTINGS))
    return {"source": source, "truth": truth, "output": out, "rows": rows_of(out), "result": result}


def test_every_caption_tagged_once_in_input_order_as_json_lists(reference):
    rows, truth = reference["rows"], reference["truth"]
    assert list(rows[0]) == ["tag_row", "text", "row", "path", "status", "error", "objects", "actions",
                             "objects_raw", "actions_raw", "tag_status", "tag_error"]
    assert [int(r["tag_row"]) for r in rows] == list(range(40)) and [r["row"] for r in rows] == [str(i) for i in
                                                                                                 range(40)]
    assert [r["text"] for r in rows] == [t[0] for t in truth]
    empty = rows[7]
    assert (empty["tag_status"], empty["tag_error"], empty["objects"]) == ("failed", "empty `text`", "")
    tagged = [(json.loads(r["objects"]), json.loads(r["actions"]), t) for r, t in zip(rows, truth) if r["text"]]
    # The tiny model learned the task (chance: 1 in 56 for the objects), so the equalities below mean something.
    assert sum(objects == t[1] for objects, _, t in tagged) >= 0.7 * len(tagged), tagged
    assert sum(actions == t[2] for _, actions, t in tagged) >= 0.7 * len(tagged), tagged
    assert all(r["tag_status"] == "ok" and r["objects_raw"] == r["actions_raw"] == "" for r in rows if r["text"])
    result = reference["result"]
    assert (result.processed, result.ok, result.failed, result.merged) == (40, 39, 1, True)
    assert list_parts(reference["output"]) == []


def test_left_padded_batches_equal_one_caption_at_a_time(reference, loaded):
    model, tokenizer = loaded
    captions = [t[0] for t in reference["truth"] if t[0]]
    assert len({len(c.split()) for c in captions}) >= 3  # lengths differ: batches carry padding
    for key in ("objects", "actions"):
        alone = [tag_captions(model, tokenizer, [c], key, max_new_tokens=12)[0] for c in captions]
        batched = tag_captions(model, tokenizer, captions, key, batch_size=8, max_new_tokens=12)
        assert batched == alone
        got = [json.dumps(t.tags) for t in alone]
        assert got == [r[key] for r in reference["rows"] if r["text"]]  # and tag_csv wrote exactly these
    tokenizer.padding_side = "right"  # Open-Sora's fault: shows that the equality above depends on the padding
    try:
        right = tag_captions(model, tokenizer, captions, "objects", batch_size=8, max_new_tokens=12)
    finally:
        tokenizer.padding_side = "left"
    assert right != tag_captions(model, tokenizer, captions, "objects", batch_size=8, max_new_tokens=12)


def test_a_reply_without_a_list_keeps_the_raw_text_and_fails_the_row(reference, tagger, tmp_path):
    out = tmp_path / "tags.csv"
    result = tag_csv(TagConfig(str(reference["source"]), str(out), model=tagger, key="objects", batch_size=8,
                               **{**SETTINGS, "max_new_tokens": 3}))  # "[ dog," : the list is cut short
    rows = rows_of(out)
    assert list(rows[0])[-4:] == ["objects", "objects_raw", "tag_status", "tag_error"]
    full = {r["tag_row"]: json.loads(r["objects"]) for r in reference["rows"] if r["text"]}
    for r in (r for r in rows if r["text"]):
        assert (r["tag_status"], r["objects"]) == ("failed", "")
        assert r["objects_raw"] == f"[ {full[r['tag_row']][0]},"  # what the model really began to say
        assert r["tag_error"] == "no [...] list in the reply for objects (kept in objects_raw)"
    assert (result.ok, result.failed) == (0, 40)


def test_kill_9_at_random_moments_then_resume_gives_every_row_once(reference, tagger, tmp_path):
    """Real `vidlm tag` processes killed with SIGKILL mid-run, resumed each time, then run to the end."""
    source, truth = captions_csv(tmp_path / "captions.csv", 120, seed=2)
    out = tmp_path / "tags.csv"
    command = [sys.executable, "-m", "vidlm.cli", "tag", str(source), "--output", str(out), "--model", tagger,
               "--key", "objects", "--batch-size", "2", "--max-new-tokens", "12", "--torch-threads", "1",
               "--no-progress"]
    model, tokenizer = load_tagger(tagger)
    expected = [json.dumps(t.tags) for t in tag_captions(model, tokenizer, [t[0] for t in truth], "objects",
                                                          max_new_tokens=12)]
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    part, table = part_path(out, 0, 1), read_input(source, layout(TagConfig(str(source), str(out), key="objects")))
    mid_run = 0
    for trial in range(3):
        running, code, stderr = kill_after_random_rows(command, env(), part, len(truth), rng)
        assert running or code == 0, f"seed {seed}: {stderr[-2000:]}"
        found = scan(part, table)
        done = [r["tag_row"] for r in found.records]
        assert len(done) == len(set(done)), f"seed {seed}: a row was tagged twice"
        assert all(r["objects"] == expected[r["tag_row"]] for r in found.records), f"seed {seed}"
        mid_run += running and 0 < len(done) < len(truth)
    assert mid_run >= 2, f"seed {seed}: only {mid_run} kills landed while tagging"
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = rows_of(out)
    assert [int(r["tag_row"]) for r in rows] == list(range(len(truth))), f"seed {seed}"
    assert [r["objects"] for r in rows] == expected and list_parts(out) == []


def test_the_command_builds_its_flags_from_tag_config(reference, tagger, tmp_path, capsys):
    out = tmp_path / "tags.csv"
    (tmp_path / "run.yaml").write_text(f"model: {tagger}\nkey: actions\nmax_new_tokens: 12\nprogress: false\n")
    assert main(["tag", str(reference["source"]), "--output", str(out), "--config", str(tmp_path / "run.yaml"),
                 "--batch-size", "16", "--torch-threads", "1"]) == 0
    assert "wrote" in capsys.readouterr().err
    rows = rows_of(out)
    assert list(rows[0])[-4:] == ["actions", "actions_raw", "tag_status", "tag_error"]
    assert [r["actions"] for r in rows] == [r["actions"] for r in reference["rows"]]


def bad_case(tmp_path, tagger, case):
    source = tmp_path / "captions.csv"
    source.write_text("path,text\na.mp4,a dog runs near the tree.\n")
    args = [str(source), "--output", str(tmp_path / "out.csv"), "--model", tagger]
    if case == "missing column":
        source.write_text("path,caption\na.mp4,a dog\n")
        words = ["captions.csv has no `text` column", "['path', 'caption']", "--column"]
    elif case == "input has an output column":
        source.write_text("text,objects\na dog,x\n")
        words = ["['objects']", "which vidlm tag writes itself", "rename"]
    elif case == "unknown model folder":
        args[-1], words = str(tmp_path / "no_model"), ["Model folder not found", "no_model", "Qwen/Qwen2.5-0.5B"]
    elif case == "not a chat model":
        plain = tmp_path / "plain"
        plain.mkdir()
        for name in os.listdir(tagger):
            (plain / name).write_bytes((Path(tagger) / name).read_bytes())
        config = (plain / "tokenizer_config.json").read_text()
        (plain / "tokenizer_config.json").write_text(config.replace('"chat_template"', '"unused_template"'))
        (plain / "chat_template.jinja").unlink(missing_ok=True)
        args[-1], words = str(plain), ["has no chat template", "instruct"]
    elif case == "output is input":
        args[2], words = str(source), ["is the input CSV"]
    return args, words


@pytest.mark.parametrize("case", ["missing column", "input has an output column", "unknown model folder",
                                  "not a chat model", "output is input"])
def test_bad_input_is_one_line_with_exit_code_2(tagger, tmp_path, capsys, case):
    args, words = bad_case(tmp_path, tagger, case)
    assert main(["tag", *args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vidlm tag: error: ") and "Traceback" not in err
    assert all(w in last for w in words), last
    assert not (tmp_path / "out.csv").exists()


def test_a_resume_with_another_key_is_refused_before_anything_is_read(reference, tagger, tmp_path):
    out = tmp_path / "tags.csv"
    out.write_bytes(reference["output"].read_bytes())  # written with key both: its columns differ too
    Path(f"{out}.run.json").write_bytes(Path(f"{reference['output']}.run.json").read_bytes())
    with pytest.raises(RowJobError, match=r"other settings: \{'key': \{'before': 'both', 'now': 'objects'\}"):
        tag_csv(TagConfig(str(reference["source"]), str(out), model=tagger, key="objects", **SETTINGS))
