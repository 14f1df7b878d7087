"""`vidlm tag` / `tag_csv` on two tiny chat LMs that are not trained (tests/helpers/tag_models.py): one whose reply
is fixed by construction (`[dog, ball]`), for the parsing, order, once-only rows and CLI; one with seeded random
weights whose replies depend on every prompt token, for batching, padding and row order under kill -9. No assertion
depends on how well a model learned.
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
from helpers.seeds import seed_for
from helpers.tag_models import ADJECTIVES, NOUNS, SCRIPTED_REPLY, VERBS, random_weights, scripted
from vidlm.jobs.caption_files import RowJobError, list_parts, part_path, read_input, scan
from vidlm.cli import main
from vidlm.jobs.tag import TagConfig, layout, load_tagger, parse_tags, tag_captions, tag_csv

SETTINGS = dict(max_new_tokens=12, progress=False, torch_threads=1)


def synthetic_caption(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """A caption, its objects and its actions (base form); 0 to 2 adjectives vary the length, so batches pad."""
    n1, n2 = rng.sample(NOUNS, 2)
    verb = rng.choice(list(VERBS))
    adjectives = " ".join(rng.sample(ADJECTIVES, rng.randrange(3)))
    subject = f"a {adjectives} {n1}" if adjectives else f"a {n1}"
    return f"{subject} {VERBS[verb]} near the {n2}.", [n1, n2], [verb]


@pytest.fixture(scope="session")
def tagger(tmp_path_factory) -> str:
    """The folder of the scripted chat LM: it replies `[dog, ball]` to every prompt."""
    return scripted(tmp_path_factory.mktemp("scripted"))


@pytest.fixture(scope="session")
def random_tagger(tmp_path_factory) -> str:
    """The folder of the random-weight chat LM: its reply depends on the whole prompt."""
    return random_weights(tmp_path_factory.mktemp("random"), seed=seed_for(0))


@pytest.fixture(scope="module")
def loaded(random_tagger):
    return load_tagger(random_tagger)


def greedy_reply(model, tokenizer, key: str, caption: str, max_new_tokens: int = 12) -> str:
    """The reply transformers' own greedy decoding gives one prompt with no padding: the expectation, written
    without vidlm's batching."""
    from vidlm.jobs.tag import messages

    prompt = tokenizer.apply_chat_template(messages(key, caption), tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def as_record(reply: str) -> tuple[str, str]:
    """The (tags, raw) cells vidlm tag writes for `reply`: the JSON list, or nothing and the raw reply."""
    tags = parse_tags(reply)
    return ("", reply) if tags is None else (json.dumps(tags), "")


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
    tagged = [r for r in rows if r["text"]]
    assert len(tagged) == 39  # the scripted model's one reply, parsed into a JSON list in both columns
    assert all(json.loads(r["objects"]) == json.loads(r["actions"]) == SCRIPTED_REPLY for r in tagged)
    assert all(r["tag_status"] == "ok" and r["objects_raw"] == r["actions_raw"] == "" for r in rows if r["text"])
    result = reference["result"]
    assert (result.processed, result.ok, result.failed, result.merged) == (40, 39, 1, True)
    assert list_parts(reference["output"]) == []


def test_left_padded_batches_equal_one_caption_at_a_time(reference, loaded, random_tagger, tmp_path):
    model, tokenizer = loaded
    captions = [t[0] for t in reference["truth"] if t[0]]
    assert len({len(c.split()) for c in captions}) >= 3  # lengths differ: batches carry padding
    out = tmp_path / "tags.csv"
    tag_csv(TagConfig(str(reference["source"]), str(out), model=random_tagger, key="both", batch_size=6, **SETTINGS))
    rows = [r for r in rows_of(out) if r["text"]]
    alone = {key: [greedy_reply(model, tokenizer, key, c) for c in captions] for key in ("objects", "actions")}
    for key, replies in alone.items():
        # The replies depend on the caption (30-33 and 33-37 distinct of 39 for weight seeds 0-4), so a mix-up shows.
        assert len(set(replies)) >= 25, replies
        batched = tag_captions(model, tokenizer, captions, key, batch_size=8, max_new_tokens=12)
        assert [t.reply for t in batched] == replies
        assert [(r[key], r[f"{key}_raw"]) for r in rows] == [as_record(a) for a in replies]  # what tag_csv wrote
    tokenizer.padding_side = "right"  # Open-Sora's fault: shows that the equality above depends on the padding
    try:
        right = tag_captions(model, tokenizer, captions, "objects", batch_size=8, max_new_tokens=12)
    finally:
        tokenizer.padding_side = "left"
    assert sum(t.reply != a for t, a in zip(right, alone["objects"])) >= 10


def test_a_reply_without_a_list_keeps_the_raw_text_and_fails_the_row(reference, tagger, tmp_path):
    out = tmp_path / "tags.csv"
    result = tag_csv(TagConfig(str(reference["source"]), str(out), model=tagger, key="objects", batch_size=8,
                               **{**SETTINGS, "max_new_tokens": 3}))  # "[ dog," : the list is cut short
    rows = rows_of(out)
    assert list(rows[0])[-4:] == ["objects", "objects_raw", "tag_status", "tag_error"]
    for r in (r for r in rows if r["text"]):
        assert (r["tag_status"], r["objects"]) == ("failed", "")
        assert r["objects_raw"] == "[ dog,"  # what the model really began to say
        assert r["tag_error"] == "no [...] list in the reply for objects (kept in objects_raw)"
    assert (result.ok, result.failed) == (0, 40)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_every_row_once(random_tagger, tmp_path):
    """Real `vidlm tag` processes killed with SIGKILL mid-run (after a number of rows drawn from the seed, at most a
    third of those left), resumed each time, then run to the end: every row once, each with its own caption's reply."""
    source, truth = captions_csv(tmp_path / "captions.csv", 120, seed=2)
    out = tmp_path / "tags.csv"
    command = [sys.executable, "-m", "vidlm.cli", "tag", str(source), "--output", str(out), "--model", random_tagger,
               "--key", "objects", "--batch-size", "2", "--max-new-tokens", "12", "--torch-threads", "1",
               "--no-progress"]
    model, tokenizer = load_tagger(random_tagger)
    expected = [as_record(greedy_reply(model, tokenizer, "objects", t[0])) for t in truth]
    seed = seed_for(7)
    rng = random.Random(seed)
    part, table = part_path(out, 0, 1), read_input(source, layout(TagConfig(str(source), str(out), key="objects")))
    for trial in range(3):
        running, code, stderr = kill_after_random_rows(command, env(), part, len(truth), rng, settle_s=0.02)
        assert running, f"seed {seed}, kill {trial}: the run ended before the kill ({code}): {stderr[-2000:]}"
        found = scan(part, table)
        done = [r["tag_row"] for r in found.records]
        assert 0 < len(done) < len(truth), f"seed {seed}, kill {trial}: {len(done)} rows done"
        assert len(done) == len(set(done)), f"seed {seed}: a row was tagged twice"
        assert all((r["objects"], r["objects_raw"]) == expected[r["tag_row"]] for r in found.records), f"seed {seed}"
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = rows_of(out)
    assert [int(r["tag_row"]) for r in rows] == list(range(len(truth))), f"seed {seed}"
    assert [(r["objects"], r["objects_raw"]) for r in rows] == expected and list_parts(out) == []


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
