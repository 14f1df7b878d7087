"""Caption every video of a CSV: batched, decoded in worker processes, resumable after a crash, one shard per process.

    vidlm caption videos.csv --output captions.csv --model llava-hf/LLaVA-NeXT-Video-7B-hf --num-frames 8
    torchrun --nproc_per_node 4 -m vidlm.cli caption videos.csv --output captions.csv --model ...   # 4 shards

    result = caption_csv(CaptionConfig("videos.csv", "captions.csv", model="llava-hf/LLaVA-NeXT-Video-7B-hf"))

Before any weight loads, the frame count is checked against the model's context: every clip's visual tokens + the
prompt + max_new_tokens must fit (`vidlm.budget`; for Qwen, which sizes each video by its own shape, every video's
first frame is read for that).

Each process appends its rows to its own part file as batches finish; running the same command again skips the rows
already there (the run loop is `vidlm.jobs.rows`, the files and the resume protocol `vidlm.jobs.caption_files`).
Once every process has finished, rank 0 merges the parts into the output, every input row once and in input order.

Several processes (`vidlm.runtime.launch`): torchrun and `accelerate launch --multi_gpu` set RANK, WORLD_SIZE,
LOCAL_RANK and a rendezvous (MASTER_ADDR/PORT); the processes then meet at a gloo barrier once each has removed its stale completion
marker, so rank 0 never takes an earlier run's marker for a finished part. Processes started by hand with only RANK
and WORLD_SIZE skip that barrier: start them together. Rows that failed (a missing or undecodable video) are kept on
resume; `retry_failed` captions them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vidlm.jobs.caption_files import ERROR, FAILED, OK, ROW, STATUS, TEXT, CaptionError, InputTable, read_input
from vidlm.config import CaptionConfig, model_source_problem  # CaptionConfig: importable from here too
from vidlm.runtime.launch import ProcessInfo, default_parallelism
from vidlm.jobs.rows import RowJob, RowsResult, Shard, check_paths, merge_rows, run_rows


@dataclass
class CaptionResult:
    """What this process did and, where it merged (rank 0), what the output holds."""

    output: Path
    rows: int  # rows in the input
    captioned: int  # rows this process captioned in this call, ok or failed
    seconds: float  # this process's captioning loop (model loading excluded)
    merged: bool  # whether this process wrote `output`
    ok: int | None = None  # rows with a caption in the merged output (None where this process did not merge)
    failed: int | None = None

    @property
    def videos_per_s(self) -> float:
        return self.captioned / self.seconds if self.seconds else 0.0

    @classmethod
    def of(cls, result: RowsResult) -> CaptionResult:
        return cls(result.output, result.rows, result.processed, result.seconds, result.merged, result.ok,
                   result.failed)


def check_config(config: CaptionConfig) -> None:
    """Raise `CaptionError` for files and folders that cannot work, before anything slow happens (the values were
    checked when the config was made)."""
    check_paths(config.input_csv, config.output_csv)
    if config.adapter is not None and not Path(config.adapter, "adapter_config.json").is_file():
        raise CaptionError(f"No LoRA adapter in {config.adapter!r} (adapter_config.json missing): pass the folder "
                           "finetune wrote (…/adapter), or leave --adapter out to caption with the base model")
    problem = model_source_problem(config.model) if config.backend == "local" else None  # else the server's name
    if problem:
        raise CaptionError(problem)


def settings(config: CaptionConfig, prompt: str) -> dict:
    """What the captions depend on; a resume must use the same (batch size and workers do not change captions)."""
    def where(p):
        return str(Path(p).resolve()) if p is not None and Path(p).exists() else p

    if config.backend == "openai":
        return {"backend": config.backend, "model": config.model, "base_url": config.base_url,
                "frame_positions": config.positions(), "num_frames": config.num_frames, "image_size":
                config.image_size, "jpeg_quality": config.jpeg_quality, "image_detail": config.image_detail,
                "prompt": prompt, "max_new_tokens": config.max_new_tokens, "temperature": config.temperature}
    return {"model": where(config.model), "adapter": where(config.adapter), "quantization": config.quantization,
            "num_frames": config.num_frames, "prompt": prompt, "max_new_tokens": config.max_new_tokens}


def caption_csv(config: CaptionConfig) -> CaptionResult:
    """Caption every row of `config.input_csv` into `config.output_csv`, resuming from what is already there.

    Under torchrun / accelerate launch, each process captions rows `row % WORLD_SIZE == RANK` into its own part file;
    rank 0 then waits for every part (at most `wait_timeout_s` without progress) and merges them into the output.
    """
    check_config(config)
    prompt = config.instruction()
    table = read_input(config.input_csv)
    job = RowJob(table, config.output_csv, settings(config, prompt), config, retry_failed=config.retry_failed,
                 fsync_every_s=config.fsync_every_s, wait_timeout_s=config.wait_timeout_s, progress=config.progress,
                 unit="video", desc="captioning")
    if config.backend == "openai":
        from vidlm.jobs.api_caption import caption_through_api

        return CaptionResult.of(caption_through_api(job, config, prompt))
    import torch

    _check_budget(config, table, prompt)
    threads = torch.get_num_threads()
    try:
        return CaptionResult.of(run_rows(job, lambda shard: _caption_rows(table, prompt, config, shard)))
    finally:
        torch.set_num_threads(threads)


def merge_captions(input_csv, output_csv) -> CaptionResult:
    """Merge the part files of an earlier `caption_csv` run into `output_csv` (every row once, input order)."""
    return CaptionResult.of(merge_rows(input_csv, output_csv))


def _check_budget(config: CaptionConfig, table: InputTable, prompt: str) -> None:
    """Refuse, before any weight loads, a frame count whose clips with the prompt and max_new_tokens exceed the
    model's context (`vidlm.budget`); rows named by number and file."""
    from vidlm.budget import check_before_loading
    from vidlm.families import family_for
    from vidlm.models import load_processor
    from vidlm.prompts import format_prompt

    try:
        family = family_for(config.model)
        processor = load_processor(config.model, family=family)
    except OSError as err:  # what from_pretrained raises for a missing repo, folder or file
        raise CaptionError(f"Cannot load model {config.model!r}: {err}") from err
    text = format_prompt(family, prompt, processor=processor).text
    videos = [(f"row {row} ({table.video_path(row).name})", table.video_path(row)) for row in range(len(table.rows))
              if table.video_path(row) is not None]
    try:
        check_before_loading(config.model, processor, family, config.num_frames, text, config.max_new_tokens, videos)
    except ValueError as err:
        raise CaptionError(str(err)) from None


def _load(config: CaptionConfig, proc: ProcessInfo):
    """Processor and model (base, or base + adapter) on this process's GPU(s) (`vidlm.models.load_options`)."""
    from vidlm.adapters import load_adapter
    from vidlm.models import load_model, load_options, load_processor

    options = load_options(config.gpus_per_process, config.max_memory_gib, config.attn_implementation, proc)
    try:
        processor = load_processor(config.model)
        if config.adapter:
            model = load_adapter(config.model, config.adapter, quantization=config.quantization, **options)
        else:
            model = load_model(config.model, quantization=config.quantization, **options)
    except OSError as err:  # what from_pretrained raises for a missing repo, folder or file
        raise CaptionError(f"Cannot load model {config.model!r}: {err}") from err
    return model.eval(), processor


class _VideoRows:
    """Input rows as a map-style dataset: row → (row, frames, None) or (row, None, error). Runs in worker processes."""

    def __init__(self, table: InputTable, sampling, num_frames: int | None):
        self.table, self.sampling, self.num_frames = table, sampling, num_frames

    def __len__(self) -> int:
        return len(self.table.rows)

    def __getitem__(self, row: int):
        from vidlm.video.decode import VideoDecodeError

        path = self.table.video_path(row)
        if path is None:
            return row, None, "empty path"
        try:
            return row, self.sampling.load(path, self.num_frames), None  # the clip: frames and their timing
        except VideoDecodeError as err:
            return row, None, str(err)
        except Exception as err:  # a decoder failure on one file must fail that row only, never its neighbours
            return row, None, f"{path}: {type(err).__name__}: {err}"


class _Collate:
    """Processor inputs for the decodable videos of a batch (in the worker, so it overlaps generation)."""

    def __init__(self, processor, text: str, family):
        self.processor, self.text, self.family = processor, text, family

    def __call__(self, items):
        good = [(row, frames) for row, frames, error in items if error is None]
        errors = {row: error for row, _, error in items if error is not None}
        try:
            batch = self._batch([clip for _, clip in good])
        except Exception:
            # One odd clip (an unusual size, say) must not fail its neighbours: find it by trying each alone.
            kept = []
            for row, frames in good:
                try:
                    self._batch([frames])
                    kept.append((row, frames))
                except Exception as err:
                    errors[row] = f"{self.text!r} with this video could not be processed: {type(err).__name__}: {err}"
            good = kept
            batch = self._batch([clip for _, clip in good])
        return [row for row, _, _ in items], [row for row, _ in good], batch, errors

    def _batch(self, clips: list):
        from vidlm.collate import generation_batch

        return generation_batch(self.processor, [self.text] * len(clips), clips, self.family) if clips else None


class _CloseInherited:
    """Run in each worker at start: close the part file descriptor a forked worker inherits.

    Otherwise the worker shares the part's lock, and after a kill -9 of the main process orphaned workers (which
    notice within ~5 s) would make an immediate resume fail with "being written by another run".
    """

    def __init__(self, fd: int):
        self.fd, self.identity = fd, _identity(fd)

    def __call__(self, worker_id: int) -> None:
        if _identity(self.fd) == self.identity:  # a spawned worker's same number may be another file: leave it
            os.close(self.fd)


def _identity(fd: int):
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _length_order(table: InputTable, rows: list[int]) -> list[int]:
    """Rows by video file size, largest first.

    With one prompt and a fixed frame count every input has the same token length, so what differs is decoding time
    and caption length, for which file size is the cheap proxy; largest first also meets an out-of-memory batch at
    the start rather than hours in.
    """
    def size(row):
        path = table.video_path(row)
        try:
            return path.stat().st_size if path is not None else -1
        except OSError:
            return -1

    return sorted(rows, key=lambda row: (-size(row), row))


def _caption_rows(table: InputTable, prompt: str, config: CaptionConfig, shard: Shard):
    """Load the model, then return an iterator of record batches (decoded in workers, captioned in batches)."""
    import torch
    from torch.utils.data import DataLoader

    from vidlm.budget import default_frames
    from vidlm.captioning import generate_captions, generation_config
    from vidlm.families import family_of
    from vidlm.prompts import format_prompt

    import av  # noqa: F401  (imported before the workers fork, so that each does not import it again)

    workers, torch_threads = default_parallelism(shard.proc.local_world_size)
    workers = workers if config.num_workers is None else config.num_workers
    torch.set_num_threads(config.torch_threads or torch_threads)
    model, processor = _load(config, shard.proc)
    family = family_of(model.config)
    text = format_prompt(family, prompt, processor=processor).text
    gen = generation_config(processor, config.max_new_tokens)
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    order = _length_order(table, shard.rows) if config.group_by_length else list(shard.rows)
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    num_frames = config.num_frames or default_frames(family, model.config)
    loader = DataLoader(_VideoRows(table, family.sampling, num_frames), batch_sampler=batches,
                        num_workers=workers, collate_fn=_Collate(processor, text, family), prefetch_factor=4 if workers else None,
                        worker_init_fn=_CloseInherited(shard.part_fd))

    def records():
        for rows, good_rows, batch, errors in loader:
            texts = generate_captions(model, processor, batch, gen, dtype) if good_rows else []
            captions = dict(zip(good_rows, texts, strict=True))  # one caption per decodable row, in batch order
            yield [{ROW: row, TEXT: captions[row], STATUS: OK, ERROR: ""} if row in captions else
                   {ROW: row, TEXT: "", STATUS: FAILED, ERROR: errors[row]} for row in rows]

    return records()
