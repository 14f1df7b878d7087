"""Each family's reference checkpoints as their hub files describe them (tests/hub_snapshots): provenance, the
family each config selects, the visual tokens processors built from the hub settings make, that every default fits
the checkpoint's context, and the memory estimate and parameter counts from the hub configs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from helpers.hub_snapshots import folder, read_json
from helpers.models_fixtures import family_checkpoints  # noqa: F401  (fixture)
from vidlm.budget import ROOM, default_frames
from vidlm.collate import context_length, visual_tokens
from vidlm.families import family_names, family_of, get_family
from vidlm.models import load_processor, sample_as_trained

CHECKPOINTS = [(name, hub_id) for name in family_names() for hub_id in get_family(name).hub_ids]
README = Path(__file__).resolve().parents[2] / "README.md"


def _config(hub_id):
    from transformers import AutoConfig

    if not (folder(hub_id) / "config.json").is_file():
        missing = read_json(hub_id, "SOURCES.json").get("missing", {})
        assert "config.json" in missing, f"{hub_id}: no config.json and SOURCES.json does not say why"
        pytest.skip(f"{hub_id}: no public source for config.json ({missing['config.json'][:80]}…)")
    return AutoConfig.from_pretrained(folder(hub_id))


@pytest.mark.parametrize("family,hub_id", CHECKPOINTS)
def test_every_reference_checkpoint_has_a_snapshot_whose_files_name_their_source(family, hub_id):
    sources = read_json(hub_id, "SOURCES.json")
    assert sources["hub_id"] == hub_id
    files = {p.name for p in folder(hub_id).iterdir()} - {"SOURCES.json"}
    assert files and files == set(sources["files"]), "every file, and only those, has its source"
    for name, entry in sources["files"].items():
        assert entry["source"] and entry["how"], name
        assert entry["confidence"] in ("exact", "likely", "unverified"), name
        assert entry["path"] or entry["confidence"] != "exact", f"{name}: exact, yet no path to check it against"
        if entry["commit"] is not None:
            assert re.fullmatch(r"[0-9a-f]{7,40}", entry["commit"]), name
    for name in ("config.json", "preprocessor_config.json"):
        assert name in files or name in sources.get("missing", {}), f"{name}: present, or missing with a reason"


@pytest.mark.parametrize("family,hub_id", CHECKPOINTS)
def test_the_hub_config_selects_its_family(family, hub_id):
    assert family_of(_config(hub_id)).name == family


@pytest.mark.parametrize("family,hub_id", CHECKPOINTS)
def test_the_default_frames_fit_the_checkpoints_context(family, hub_id):
    """At the default frame count, a clip's visual tokens leave ROOM tokens for prompt and caption; where the trained
    count does not fit (LLaVA-NeXT-Video-34B: 4,096 positions) the default is the most that does."""
    from vidlm.memory import count_visual_tokens

    config = _config(hub_id)
    fam = get_family(family)
    frames = default_frames(fam, config)
    side = 720 if fam.sampling.max_pixels else None  # pixel-budget families: 720p frames, capped per frame / clip
    assert count_visual_tokens(config, frames, side) + ROOM <= context_length(config)
    if frames < fam.num_frames:
        assert count_visual_tokens(config, frames + 1, side) + ROOM > context_length(config)


def test_the_flagship_and_its_large_sibling_at_their_defaults():
    """LLaVA-NeXT-Video-7B's linear rope scaling (×2.5) makes its 4,096 positions 10,240: its trained 32 frames
    (4,608 tokens) fit. The 34B has 4,096 positions and no scaling: 26 frames (3,744 tokens) leave 352."""
    family = get_family("llava-next-video")
    small, large = _config("llava-hf/LLaVA-NeXT-Video-7B-hf"), _config("llava-hf/LLaVA-NeXT-Video-34B-hf")
    assert (context_length(small), default_frames(family, small)) == (10240, 32)
    assert (context_length(large), default_frames(family, large)) == (4096, 26)


def _hub_processor(family, hub_id, tiny_path):
    """The family's processor with the hub's image/video settings and processor arguments, the tiny checkpoint's
    tokenizer (the count is of visual tokens, which the vocabulary does not change), as vidlm adjusts it."""
    import transformers

    tiny = load_processor(tiny_path)
    base = folder(hub_id)
    if not (base / "preprocessor_config.json").is_file():
        pytest.skip(f"{hub_id}: no public source for preprocessor_config.json")
    parts = {"tokenizer": tiny.tokenizer}
    for attribute in ("image_processor", "video_processor"):
        if getattr(tiny, attribute, None) is not None:
            parts[attribute] = type(getattr(tiny, attribute)).from_pretrained(base)
    settings = {k: v for k, v in (read_json(hub_id, "processor_config.json") or {}).items()
                if k not in ("processor_class", "chat_template")}
    processor = getattr(transformers, get_family(family).processor_class)(**parts, **settings)
    return sample_as_trained(processor, get_family(family))


def _readme_counts() -> dict[str, str]:
    """family → the README family table's "visual tokens per clip at defaults" cell."""
    rows = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].strip("`") in family_names():
            rows[cells[0].strip("`")] = cells[3]
    return rows


# family → (frames, frame height, width, the README's count) for the default checkpoint, where the hub files
# give the processor settings
README_CASES = {
    "llava-next-video": [(32, 360, 640, 4608)],
    "video-llava": [(8, 360, 640, 2056)],
    "llava-onevision": [(32, 360, 640, 6273)],
    "qwen2.5-vl": [(32, 360, 640, 4784), (32, 720, 1280, 11520)],
}


@pytest.mark.parametrize("family", sorted(README_CASES))
def test_processors_with_the_hub_settings_make_the_readmes_visual_token_counts(family, family_checkpoints):  # noqa: F811
    hub_id = get_family(family).hub_id
    processor = _hub_processor(family, hub_id, family_checkpoints[family])
    cell = _readme_counts()[family]
    for frames, height, width, expected in README_CASES[family]:
        assert f"{expected:,}" in cell, (family, cell)
        assert visual_tokens(processor, get_family(family), frames, height, width) == expected, (frames, height)


def test_without_vidlms_adjustment_the_qwen25_hub_processor_lets_720p_frames_grow(family_checkpoints):  # noqa: F811
    """The hub's image settings alone allow 16,384 cells a frame: 19,136 tokens for 32 frames of 720p."""
    import transformers

    processor = _hub_processor("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", family_checkpoints["qwen2.5-vl"])
    loose = transformers.Qwen2VLVideoProcessor.from_pretrained(folder("Qwen/Qwen2.5-VL-7B-Instruct"),
                                                               cap_pixels_per_frame=True)
    processor.video_processor = loose
    assert visual_tokens(processor, get_family("qwen2.5-vl"), 32, 720, 1280) == 19136


@pytest.mark.parametrize("family,hub_id", CHECKPOINTS)
def test_the_memory_estimate_runs_from_each_hub_config(family, hub_id):
    from vidlm.memory import estimate_memory

    config = _config(hub_id)
    frames = default_frames(get_family(family), config)
    estimate = estimate_memory(config, num_frames=frames, frame_size=720 if get_family(family).sampling.max_pixels
                               else None, gpu_gib=15)
    weights = dict((name, size) for name, size, _ in estimate.rows)["weights, quantized"]
    assert 0 < weights < estimate.peak_allocated < estimate.total


def test_the_parameter_counts_bench_train_claims_come_out_of_the_hub_configs():
    """Each architecture built on the meta device from its hub config has bench_train's parameter count (built from
    the values bench_train writes out) and is within 1% of the hub's stated size."""
    import bench_train
    from vidlm.memory import build_on_meta

    compared = []
    for arch in bench_train.ARCHITECTURES.values():
        if not (folder(arch.hub_id) / "config.json").is_file():
            continue
        hub = bench_train.count_parameters(build_on_meta(_config(arch.hub_id)))
        ours = bench_train.count_parameters(build_on_meta(arch.config(False)))
        assert hub == ours, (arch.hub_id, hub, ours)
        assert abs(hub - arch.reference_params) / arch.reference_params < 0.01, (arch.hub_id, hub)
        compared.append(arch.hub_id)
    assert len(compared) >= 4, compared


def _notebook_parameters(name: str) -> dict:
    """The `parameters` cell of a notebook as shipped: {name: value}."""
    import ast

    notebook = json.loads((README.parent / "notebooks" / name).read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}


# A caption of the length the field's datasets have (ShareGPT4Video's short summaries, Shot2Story's shots): 60 words
CAPTION = " ".join(["a woman in a red coat walks her brown dog along a wet street at dusk"] * 4)


@pytest.mark.parametrize("family,hub_id", CHECKPOINTS)
def test_the_finetune_notebook_as_shipped_meets_each_checkpoints_budget(family, hub_id, family_checkpoints):  # noqa: F811
    """notebooks/10_finetune.ipynb's parameters (its model line switched to each checkpoint, as its header table
    says): the frames it trains with, the hub processor's visual tokens for a 720p clip and a 60-word caption
    through the hub template fit the checkpoint's context — the check finetune runs before any weight loads."""
    from helpers.hub_snapshots import chat_template
    from vidlm.collate import check_token_budget
    from vidlm.prompts import DEFAULT_PROMPT, format_prompt

    shipped = _notebook_parameters("10_finetune.ipynb")
    assert shipped["model"] == get_family("llava-next-video").hub_id and shipped["num_frames"] is None
    config = _config(hub_id)
    fam = get_family(family)
    frames = shipped["num_frames"] or default_frames(fam, config)
    if (folder(hub_id) / "preprocessor_config.json").is_file():
        processor = _hub_processor(family, hub_id, family_checkpoints[family])
        processor.chat_template = chat_template(hub_id)  # None for Video-LLaVA: its documented prompt
        prompt = format_prompt(fam, DEFAULT_PROMPT, CAPTION, processor=processor)
        budget = check_token_budget(processor, config, fam, frames, [prompt], shipped["max_length"],
                                    video_sizes=[(720, 1280)])
        assert budget.longest <= context_length(config) and not budget.over
    else:  # no hub processor settings (the 34B's, Qwen3-VL-8B's): the count from the config, the text as above
        from vidlm.memory import count_visual_tokens

        processor = load_processor(family_checkpoints[family])
        processor.chat_template = chat_template(hub_id)
        prompt = format_prompt(fam, DEFAULT_PROMPT, CAPTION, processor=processor)
        text = len(processor.tokenizer(prompt.text)["input_ids"])
        visual = count_visual_tokens(config, frames, 720 if fam.sampling.max_pixels else None)
        assert visual + text <= context_length(config), (visual, text)


def _snapshot_table() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("### The hub checkpoints, as their own files describe them"):]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = rows.index(next(r for r in rows if r.startswith("| family | checkpoint |")))
    table = []
    for row in rows[header + 1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 7 or cells[0] not in family_names():
            break
        table.append(cells)
    return table


def _confidence(hub_id: str, names: tuple[str, ...]) -> str:
    files = read_json(hub_id, "SOURCES.json")["files"]
    return next((files[n]["confidence"] for n in names if n in files), "missing")


def test_the_readmes_snapshot_table_says_what_the_snapshots_hold():
    table = _snapshot_table()
    seen = set()
    for family, label, template, config_cell, processor_cell, context_cell, frames_cell in table:
        fam = get_family(family)
        parts = label.split(" / ")
        hub_ids = [next(h for h in fam.hub_ids if f"-{p.lower()}" in h.lower()) for p in parts]
        for i, hub_id in enumerate(hub_ids):
            seen.add(hub_id)

            def cell(value):  # "likely / exact": one value per checkpoint of the row, or one for all
                values = value.split(" / ")
                return values[i] if len(values) == len(hub_ids) else value

            said = cell(template)
            found = _confidence(hub_id, ("chat_template.jinja", "chat_template.json"))
            assert (found == "missing") if said.startswith("none") else said == found, (hub_id, said, found)
            for said, names in ((cell(config_cell), ("config.json",)),
                                (cell(processor_cell), ("preprocessor_config.json",))):
                found = _confidence(hub_id, names)
                assert said.startswith("**unverified**") if found == "missing" else said == found, (hub_id, said)
            if (folder(hub_id) / "config.json").is_file():
                config = _config(hub_id)
                assert int(cell(context_cell).split()[0].replace(",", "")) == context_length(config), hub_id
                assert int(frames_cell.split()[0]) == default_frames(fam, config), hub_id
            else:
                assert cell(context_cell) == "—" and int(frames_cell.split()[0]) == fam.num_frames, hub_id
    assert seen == {hub_id for _, hub_id in CHECKPOINTS}
