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
