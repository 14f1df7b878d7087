"""The configs of the row jobs: `vidlm caption` (local model or OpenAI-compatible server), `vidlm tag`,
`vidlm motion`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vidlm.config.base import Config, ConfigError, setting
from vidlm.config.groups import CaptioningSettings, RowJobSettings


@dataclass
class _CaptionFiles(Config):
    input_csv: str = setting(help="CSV with a `path` column; relative paths are relative to the CSV's folder; other "
                                  "columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the captions go: columns row, path, the other input columns, text (the "
                                   "caption), status (ok/failed), error", nonempty=True, metavar="OUT.csv")


@dataclass
class CaptionConfig(RowJobSettings, CaptioningSettings, _CaptionFiles):
    """What a captioning run depends on: `caption_csv(CaptionConfig("videos.csv", "captions.csv", model=...))`."""

    num_workers: int | None = setting(None, "video-decoding processes per captioning process (0: decode in it); "
                                            "default: a quarter of its CPU cores, 2 to 4", ge=0)
    group_by_length: bool = setting(True, "batch videos of similar file size together (a proxy for duration and "
                                          "caption length); output rows still carry their input row number")
    torch_threads: int | None = setting(None, "torch threads per process; default: its share of the CPU cores "
                                              "(cores / processes per node) less the decoding workers, at least 1",
                                        ge=1)
    # Captioning through an OpenAI-compatible server (vidlm.jobs.api_caption); model is then the server's model name.
    backend: Literal["local", "openai"] = setting("local", "local: load the model in this process; openai: send "
                                                  "frames to an OpenAI-compatible chat-completions server (OpenAI, "
                                                  "vLLM, Ollama; needs `pip install vidlm[api]`), model then being "
                                                  "the server's model name, e.g. gpt-4o")
    base_url: str | None = setting(None, "openai backend: the server's API root, e.g. http://localhost:8000/v1 "
                                         "(vLLM) or http://localhost:11434/v1 (Ollama); default: OpenAI's",
                                   nonempty=True, metavar="URL")
    api_key_env: str = setting("OPENAI_API_KEY", "openai backend: the environment variable that holds the API key "
                                                 "(the key is never a setting, so it never reaches run.json)",
                               nonempty=True, metavar="NAME")
    frame_positions: str | None = setting(None, "openai backend: where frames are taken, as comma-separated "
                                                "fractions of the video, or 'uniform' for num_frames uniform frames; "
                                                "default: 0.1,0.5,0.9", nonempty=True, metavar="F,F,...")
    image_size: int | None = setting(None, "openai backend: shorter side of the frames sent, in pixels; default: "
                                           "as decoded", ge=16)
    jpeg_quality: int = setting(90, "openai backend: JPEG quality of the frames sent", ge=1, le=95)
    image_detail: Literal["auto", "low", "high"] = setting("auto", "openai backend: OpenAI's image detail (low: "
                                                                   "fewer tokens per frame); auto sends none")
    temperature: float = setting(0.0, "openai backend: sampling temperature (0: as close to greedy as the server "
                                      "allows)", ge=0, le=2)
    concurrency: int = setting(8, "openai backend: requests in flight at once", ge=1)
    max_retries: int = setting(6, "openai backend: retries of a request after 429, 5xx, a timeout, a dropped "
                                  "connection or a malformed reply", ge=0)
    retry_base_s: float = setting(1.0, "openai backend: the first backoff; it doubles per retry, with jitter (a "
                                       "server's Retry-After wins)", gt=0)
    retry_max_s: float = setting(60.0, "openai backend: the longest wait before a retry; a longer Retry-After "
                                       "stops the run (resumable)", gt=0)
    request_timeout_s: float = setting(120.0, "openai backend: seconds one request may take", gt=0)
    price_input_per_1m: float | None = setting(None, "openai backend: price of 1M prompt tokens, for the cost "
                                                     "estimate in run.json", ge=0)
    price_output_per_1m: float | None = setting(None, "openai backend: price of 1M completion tokens", ge=0)

    def check(self) -> None:
        super().check()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            # Not echoed: a key pasted here by mistake must not reach the terminal or a log.
            raise ConfigError("api_key_env must be the name of an environment variable (letters, digits and _), "
                              "such as OPENAI_API_KEY, not the key itself; the value given is not shown")
        if self.backend == "local":
            if self.frame_positions is not None:
                raise ConfigError(f"frame_positions={self.frame_positions!r} applies to backend 'openai'; the local "
                                  "backend samples num_frames frames uniformly")
            return
        if self.adapter is not None:
            raise ConfigError(f"adapter={self.adapter!r} cannot be used with backend 'openai' (the server holds the "
                              "weights); leave --adapter out, or use --backend local")
        if self.positions() is None and self.num_frames is None:
            raise ConfigError("frame_positions='uniform' needs num_frames with backend 'openai' (a server's model has "
                              "no family default): set --num-frames")

    def positions(self) -> list[float] | None:
        """The openai backend's frame positions (fractions of the video), or None for num_frames uniform frames."""
        text = "0.1,0.5,0.9" if self.frame_positions is None else self.frame_positions.strip()
        if text == "uniform":
            return None
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if not values or not all(0 <= v <= 1 for v in values):
            raise ConfigError(f"frame_positions must be 'uniform' or comma-separated fractions from 0 to 1 (e.g. "
                              f"0.1,0.5,0.9), got {self.frame_positions!r}")
        return values


@dataclass
class _TagFiles(Config):
    input_csv: str = setting(help="CSV with a column of captions (`column`: `text`, as vidlm caption writes); other "
                                  "columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the tags go: columns tag_row, the caption column, the other input "
                                   "columns, objects and/or actions (JSON lists), objects_raw/actions_raw (the "
                                   "reply, kept when it holds no [...] list), tag_status (ok/failed), tag_error",
                              nonempty=True, metavar="OUT.csv")


@dataclass
class TagConfig(RowJobSettings, _TagFiles):
    """What an LLM tagging run depends on: `tag_csv(TagConfig("captions.csv", "tags.csv", model=...))`."""

    model: str = setting("Qwen/Qwen2.5-0.5B-Instruct", "a causal LM with a chat template (an instruct model): hub "
                         "id or local folder", nonempty=True, metavar="ID_OR_PATH")
    key: Literal["objects", "actions", "both"] = setting("both", "what to extract from each caption: objects "
                                                         "(nouns), actions (verbs), or both (two prompts)")
    column: str = setting("text", "the input column that holds the captions", nonempty=True)
    batch_size: int = setting(16, "captions per generate() call (left-padded)", ge=1)
    max_new_tokens: int = setting(48, "longest reply, in tokens (greedy decoding stops earlier at the end of the "
                                      "turn); a reply cut short has no closing ] and is kept raw", ge=1)
    torch_threads: int | None = setting(None, "torch threads per process; default: torch's own, shared between the "
                                              "processes on this machine", ge=1)


@dataclass
class _MotionFiles(Config):
    input_csv: str = setting(help="CSV with a `path` column (relative paths are relative to the CSV's folder); "
                                  "other columns are carried through to the output", nonempty=True)
    output_csv: str = setting(help="where the tags go: columns motion_row, path, the other input columns, cmotion "
                                   "(pan_left, zoom_in, pan_left+zoom_in, static, unclassified, …), motion_status "
                                   "(ok/failed), motion_error", nonempty=True, metavar="OUT.csv")


@dataclass
class MotionConfig(RowJobSettings, _MotionFiles):
    """What a camera-motion tagging run depends on: `motion_csv(MotionConfig("videos.csv", "motion.csv"))`."""

    threshold: float = setting(0.25, "displacement over the whole clip, as a fraction of the frame's shorter side, "
                                     "from which a pan, tilt or zoom counts (Open-Sora's factor)", gt=0)
    num_frames: int = setting(8, "frames compared per video (neighbours are aligned, the moves composed)", ge=2)
    size: int = setting(64, "frames are decoded at this many pixels on the shorter side", ge=16)
    caption_column: str | None = setting(None, "also append 'Camera motion: pan left.' to this caption column "
                                               "(e.g. text, as vidlm caption writes it)", nonempty=True)

