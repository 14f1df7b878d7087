"""Jobs over every row of a CSV, crash-safe and resumable (`rows`, `caption_files`): captioning with a local model
(`caption`) or an OpenAI-compatible server (`api_caption`), object/action tags (`tag`), camera motion (`motion`)."""
