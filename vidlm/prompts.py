"""Turn (instruction, answer, earlier turns) into the text a family's model expects.

The processor's chat template is used when the checkpoint has one; otherwise the family's documented form
`USER: <video>{text} ASSISTANT: {answer}</s>USER: {text} ASSISTANT:`. Every answer is followed by the tokenizer's
EOS so the model learns to stop, and earlier turns carry the same EOS at inference, so a multi-turn prompt is
exactly the training text up to the point where the model answers.

`format_prompt` returns a `Prompt`: the text, and for each answer where its generation prompt ends and where the
answer's EOS ends. The training collator supervises every token between the two (`vidlm.collate.encode`).

The instructions themselves live here too: `DEFAULT_PROMPT` (what the tiny models are trained on, and every
default), and named ones so a run can say `--prompt-name detailed` instead of repeating the text:

    get_prompt("short")  # 'Describe the video in one short sentence.'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidlm.families import Family, get_family

DEFAULT_PROMPT = "Describe the video."

PROMPTS = {
    "default": DEFAULT_PROMPT,
    "short": "Describe the video in one short sentence.",
    "detailed": ("Describe the video in detail: the setting, the main objects and people, their colours, what "
                 "they do from start to end, and how the camera moves."),
    "summary": "Summarize what happens in the video from beginning to end.",
    "objects": "List the main objects in the video and their colours.",
    "motion": "Describe how the main object moves in the video.",
    # Long and with examples: meant for large models (through an API, say), which follow the examples' form.
    "detailed_examples": (
        "Describe this video in detail for a video dataset. The images are frames of one clip, in order. Say where "
        "it takes place, who and what is in it with their colours, what happens from start to end, and how the "
        "camera moves (static, pan, tilt, zoom). Write one paragraph of plain sentences in the present tense, "
        "describe only what is visible, and do not mention frames or images.\n"
        "Example: A woman in a red raincoat walks a brown dog along a wet city pavement at dusk. Shop windows glow "
        "on the left and cars pass behind them. The dog stops to sniff a lamppost, she waits, and they walk on. "
        "The camera pans right to follow them.\n"
        "Example: Waves roll onto an empty sandy beach under a grey sky. White foam spreads up the sand and drains "
        "back. A seagull lands near the water and walks out of view. The camera is static."),
}


def get_prompt(name: str) -> str:
    """The instruction called `name`; an unknown name raises `ValueError` listing the known ones."""
    if name not in PROMPTS:
        raise ValueError(f"Unknown prompt name {name!r}; known: {sorted(PROMPTS)}")
    return PROMPTS[name]


@dataclass
class Prompt:
    """Prompt text and, per answer, the [start, end) character span the model is trained to produce.

    `text[:start]` is that answer's generation prompt (the text `format_prompt` gives without the answer, ending
    with `ASSISTANT:`) and `text[start:end]` the separator space, the answer and its EOS — or, where a chat template
    renders an answered turn other than as its generation prompt continued, `text[start:end]` is the answer and EOS.
    """

    text: str
    supervised: list[tuple[int, int]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    def supervised_text(self) -> list[str]:
        return [self.text[a:b] for a, b in self.supervised]


def format_prompt(
    family: str | Family,
    instruction: str,
    answer: str | None = None,
    history: list[tuple[str, str]] | tuple = (),
    processor=None,
    system: str | None = None,
) -> Prompt:
    """The prompt for one video: earlier (question, answer) turns, then `instruction`, then `answer` if given.

    Without an answer the text ends where the model starts generating (`... ASSISTANT:`). `system`: a system
    message first (the chat template's system turn; in the documented form, the text before the first `USER:`);
    None leaves what the template does without one (Qwen's templates add a default system turn).

    >>> format_prompt("video-llava", "Describe the video.", "a red circle moves left").text
    'USER: <video>Describe the video. ASSISTANT: a red circle moves left</s>'
    """
    fam = get_family(family) if isinstance(family, str) else family
    turns = [*history, (instruction, answer)]
    for i, (question, reply) in enumerate(turns):
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"Turn {i}: the instruction must be non-empty text, got {question!r}")
        if i < len(turns) - 1 and (not isinstance(reply, str) or not reply.strip()):
            raise ValueError(f"Turn {i}: an earlier turn needs a non-empty answer, got {reply!r}")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise ValueError(f"The answer must be non-empty text or None, got {answer!r}")
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise ValueError(f"The system message must be non-empty text or None, got {system!r}")
    turns = [(q.strip(), a.strip() if a is not None else None) for q, a in turns]
    system = system.strip() if system is not None else None
    eos = _eos(processor)
    template = getattr(processor, "chat_template", None) if processor is not None else None
    if template:
        return _with_template(processor, turns, eos, system)
    return _documented(fam, turns, eos, system)


def _eos(processor) -> str:
    tokenizer = getattr(processor, "tokenizer", processor)
    eos = getattr(tokenizer, "eos_token", None) if tokenizer is not None else None
    return eos or "</s>"


def _documented(fam: Family, turns, eos: str, system: str | None = None) -> Prompt:
    if fam.video_placeholder is None:
        raise ValueError(f"{fam.name} has no prompt form but its chat template: pass its processor, with its "
                         "chat_template set")
    text, spans = f"{system} " if system else "", []
    for i, (question, reply) in enumerate(turns):
        text += f"USER: {fam.video_placeholder if i == 0 else ''}{question} ASSISTANT:"
        if reply is not None:
            spans.append((len(text), len(text) + len(" " + reply + eos)))
            text += " " + reply + eos
    return Prompt(text, spans)


def _messages(turns, upto: int, with_last_answer: bool, system: str | None = None, answers=None) -> list[dict]:
    """Chat messages of the first `upto` turns (video first in the first user turn); `answers` replaces each
    turn's answer text (the markers `_with_template` finds)."""
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    for i, (question, reply) in enumerate(turns[:upto]):
        content = [{"type": "video"}] if i == 0 else []
        messages.append({"role": "user", "content": [*content, {"type": "text", "text": question}]})
        if reply is not None and (i < upto - 1 or with_last_answer):
            text = answers[i] if answers is not None else reply
            messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return messages


def _render(processor, messages, add_generation_prompt: bool) -> str:
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _marker(i: int) -> str:
    """A stand-in answer no template or text contains (private-use code points)."""
    return f"\ue000{i}\ue001"


def _with_template(processor, turns, eos: str, system: str | None = None) -> Prompt:
    """Render with the chat template, find each answer, and put EOS after it.

    The conversation is rendered once with a marker in place of each answer, so an answer is found wherever the
    template puts it, even where an answered assistant turn does not continue the generation prompt (LLaVA-OneVision's
    hub template renders `<|im_start|>assistant \n{answer}` but prompts with `<|im_start|>assistant\n`). An answer's
    supervised span starts at the end of its generation prompt where the rendered text continues it (LLaVA's
    `ASSISTANT:` + ` {answer}`: the separator space belongs to the answer's first token), else at the answer itself.
    """
    answered_last = turns[-1][1] is not None
    markers = [_marker(i) for i in range(len(turns))]
    text = _render(processor, _messages(turns, len(turns), True, system, markers),
                   add_generation_prompt=not answered_last)
    spans, pieces, cursor = [], [], 0  # spans: (start, end of answer) in the text with answers in place
    for i, (_, reply) in enumerate(turns):
        if reply is None:
            continue
        at = text.find(markers[i], cursor)
        if at < 0 or text.count(markers[i]) != 1:
            raise ValueError(
                "The processor's chat template does not render each answer once and verbatim, so the supervised "
                "tokens cannot be located; set `processor.chat_template = None` to use the family's documented "
                "prompt format instead."
            )
        pieces.append(text[cursor:at])
        before = "".join(pieces)
        prompt = _render(processor, _messages(turns, i + 1, False, system), add_generation_prompt=True)
        continues = before.startswith(prompt) and not before[len(prompt):].strip(" ")
        spans.append((len(prompt) if continues else len(before), len(before) + len(reply)))
        pieces.append(reply)
        cursor = at + len(markers[i])
    pieces.append(text[cursor:])
    text = "".join(pieces)
    # Put EOS after each answer unless the template wrote it; every span then ends after the EOS.
    pieces, shifted, cursor, shift = [], [], 0, 0
    for start, end in spans:
        pieces.append(text[cursor:end])
        shifted.append((start + shift, end + shift + len(eos)))
        if not text.startswith(eos, end):
            pieces.append(eos)
            shift += len(eos)
        cursor = end
    pieces.append(text[cursor:])
    out = "".join(pieces)
    # What the template writes after the final answer's EOS (a separator space, Qwen's newline) is not part of the
    # training text: the sequence ends where the model stops.
    return Prompt(out.rstrip() if answered_last else out, shifted)
