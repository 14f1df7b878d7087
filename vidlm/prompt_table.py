"""Named captioning instructions, so a run can say `--prompt-name detailed` instead of repeating the text.

    get_prompt("short")  # 'Describe the video in one short sentence.'

The instruction is wrapped in the family's prompt form (`USER: <video>… ASSISTANT:` or the chat template) by
`vidlm.prompts.format_prompt`; the names only pick the words. "default" is what the tiny models are trained on.
"""

from __future__ import annotations

from vidlm.synthetic import PROMPT

PROMPTS = {
    "default": PROMPT,
    "short": "Describe the video in one short sentence.",
    "detailed": ("Describe the video in detail: the setting, the main objects and people, their colours, what "
                 "they do from start to end, and how the camera moves."),
    "summary": "Summarize what happens in the video from beginning to end.",
    "objects": "List the main objects in the video and their colours.",
    "motion": "Describe how the main object moves in the video.",
}


def get_prompt(name: str) -> str:
    """The instruction called `name`; an unknown name raises `ValueError` listing the known ones."""
    if name not in PROMPTS:
        raise ValueError(f"Unknown prompt name {name!r}; known: {sorted(PROMPTS)}")
    return PROMPTS[name]
