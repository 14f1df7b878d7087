"""vidlm's prompts and training text against each hub checkpoint's own chat template, rendered by plain jinja2
(`helpers.hub_snapshots.render`), character for character, before the processor expands the video placeholder.

For every snapshot with a template: the generation prompt equals the template's `add_generation_prompt` rendering;
the training text equals the template's rendering of the answered conversation with the tokenizer's EOS after each
answer (where the template does not write it) and nothing after the last; each supervised span holds its answer and
EOS. Single- and multi-turn, with and without a system message. The family's own `CHAT_TEMPLATE` (what its tiny
checkpoints use) is the hub text itself.
"""

import importlib

import pytest

from helpers.hub_snapshots import chat_template, render, snapshot_ids, special_token
from helpers.models_fixtures import family_checkpoints  # noqa: F401  (fixture)
from vidlm.families import family_names, get_family
from vidlm.models import load_processor
from vidlm.prompts import format_prompt

WITH_TEMPLATE = [h for h in snapshot_ids() if chat_template(h)]
Q1, A1, Q2, A2 = "Describe the video.", "a red circle moves left", "What colour is it?", "red"
SYSTEM = "You are a careful video describer."


def _messages(turns, system=None):
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    for i, (question, answer) in enumerate(turns):
        video = [{"type": "video"}] if i == 0 else []
        messages.append({"role": "user", "content": [*video, {"type": "text", "text": question}]})
        if answer is not None:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def _with_eos(text: str, answers: list[str], eos: str, last: bool = True) -> str:
    """`text` with `eos` after each answer the template did not end with it (vidlm's rule: the model learns to stop,
    and a later turn's prompt holds earlier answers as trained); with `last`, nothing after the last EOS."""
    out, cursor = "", 0
    for answer in answers:
        at = text.index(answer, cursor) + len(answer)
        out += text[cursor:at] + ("" if text.startswith(eos, at) else eos)
        cursor = at
    out += text[cursor:]
    return out.rstrip() if last else out


@pytest.fixture(scope="module")
def processors(family_checkpoints):  # noqa: F811
    """hub id -> a processor of its family carrying the hub's chat template and EOS (the tiny checkpoint's
    tokenizer: templates and EOS are text here, so its vocabulary does not matter)."""
    out = {}
    for hub_id in WITH_TEMPLATE:
        processor = load_processor(family_checkpoints[family_for_snapshot(hub_id).name])
        processor.chat_template = chat_template(hub_id)
        eos = special_token(hub_id, "eos_token")
        if eos:
            processor.tokenizer.eos_token = eos
        out[hub_id] = processor
    return out


def family_for_snapshot(hub_id: str):
    """The family that names `hub_id` among its reference checkpoints."""
    return next(get_family(name) for name in family_names() if hub_id in get_family(name).hub_ids)


def _template(hub_id: str, processor) -> str:
    """The template a conversation with a video is rendered with: the hub's, except SmolVLM2's, which has no video
    branch — transformers' SmolVLM processor renders such conversations with its own DEFAULT_CHAT_TEMPLATE."""
    if family_for_snapshot(hub_id).name == "smolvlm2":
        from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

        return DEFAULT_CHAT_TEMPLATE
    return processor.chat_template


def _extra(processor) -> dict:
    tokenizer = processor.tokenizer
    return {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token}


CASES = {
    "one turn": ([(Q1, A1)], None),
    "two turns": ([(Q1, A1), (Q2, A2)], None),
    "one turn, system": ([(Q1, A1)], SYSTEM),
    "two turns, system": ([(Q1, A1), (Q2, A2)], SYSTEM),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("hub_id", WITH_TEMPLATE)
def test_the_generation_prompt_is_the_hub_templates(processors, hub_id, case):
    turns, system = CASES[case]
    processor = processors[hub_id]
    *history, (question, _) = turns
    prompt = format_prompt(family_for_snapshot(hub_id), question, None, history, processor, system=system)
    hub = render(_template(hub_id, processor), _messages([*history, (question, None)], system), True,
                 **_extra(processor))
    assert prompt.text == _with_eos(hub, [a for _, a in history], processor.tokenizer.eos_token, last=False)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("hub_id", WITH_TEMPLATE)
def test_the_training_text_is_the_hub_templates_with_eos(processors, hub_id, case):
    turns, system = CASES[case]
    processor = processors[hub_id]
    eos = processor.tokenizer.eos_token
    *history, (question, answer) = turns
    prompt = format_prompt(family_for_snapshot(hub_id), question, answer, history, processor, system=system)
    hub = render(_template(hub_id, processor), _messages(turns, system), False, **_extra(processor))
    assert prompt.text == _with_eos(hub, [a for _, a in turns], eos)
    assert [t.lstrip() for t in prompt.supervised_text()] == [a + eos for _, a in turns]


@pytest.mark.parametrize("hub_id", WITH_TEMPLATE)
def test_the_familys_own_template_is_the_hub_text(hub_id):
    """The tiny checkpoints render prompts with the family's CHAT_TEMPLATE: it is the default checkpoint's hub
    template, so the suite trains and captions in the format users' checkpoints have."""
    family = family_for_snapshot(hub_id)
    if hub_id != family.hub_id:
        pytest.skip(f"{family.name}'s template is its default checkpoint's ({family.hub_id})")
    module = importlib.import_module(f"vidlm.families.{family.name.replace('-', '_').replace('.', '_')}")
    assert module.CHAT_TEMPLATE == chat_template(hub_id)


def test_video_llava_has_no_hub_template_and_uses_the_documented_prompt():
    """LanguageBind/Video-LLaVA-7B-hf's main branch has no chat template: the documented prompt is what users run."""
    assert chat_template("LanguageBind/Video-LLaVA-7B-hf") is None
    prompt = format_prompt(get_family("video-llava"), Q1, A1)
    assert prompt.text == f"USER: <video>{Q1} ASSISTANT: {A1}</s>"
