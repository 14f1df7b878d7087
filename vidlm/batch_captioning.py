"""Caption every video of a CSV: batched, decoded in worker processes, resumable after a crash, one shard per process.

    vidlm caption videos.csv --output captions.csv --model llava-hf/LLaVA-NeXT-Video-7B-hf --num-frames 8
    torchrun --nproc_per_node 4 -m vidlm.cli caption videos.csv --output captions.csv --model ...   # 4 shards

    result = caption_csv(CaptionConfig("videos.csv", "captions.csv", model="llava-hf/LLaVA-NeXT-Video-7B-hf"))

Each process appends its rows to its own part file as batches finish; running the same command again skips the
rows already there (see `vidlm.caption_files` for the files and the resume protocol). Once every process has
finished, rank 0 merges the parts into the output, every input row once and in input order.

Several processes (`vidlm.launch`): torchrun and `accelerate launch --multi_gpu` set RANK, WORLD_SIZE, LOCAL_RANK and
a rendezvous (MASTER_ADDR/PORT); the processes then meet at a gloo barrier once each has removed its stale completion
marker, so rank 0 never takes an earlier run's marker for a finished part. Processes started by hand with only RANK
and WORLD_SIZE skip that barrier: start them together. Rows that failed (a missing or undecodable video) are kept on
resume; `retry_failed` captions them again.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from vidlm.caption_files import (ERROR, FAILED, OK, ROW, STATUS, TEXT, CaptionError, InputTable, PartWriter,
                                 done_path, mark_done, merge, part_path, read_finished, read_input, run_record_path)
from vidlm.config import CaptionConfig, model_source_problem  # CaptionConfig: importable from here too
from vidlm.launch import ProcessGroup, ProcessInfo, default_parallelism, process_info, wait_for_parts


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


def check_config(config: CaptionConfig) -> None:
    """Raise `CaptionError` for files and folders that cannot work, before anything slow happens (the values were
    checked when the config was made)."""
    source, output = Path(config.input_csv), Path(config.output_csv)
    if output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source)):
        raise CaptionError(f"The output {output} is the input CSV; choose another --output (e.g. captions.csv)")
    if output.is_dir():
        raise CaptionError(f"The output {output} is a folder; give a file name such as {output / 'captions.csv'}")
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


def _check_same_settings(output, now: dict) -> None:
    try:
        before = json.loads(run_record_path(output).read_text()).get("settings")
    except (OSError, ValueError):  # no record (or one cut short by a kill): nothing to compare with
        return
    changed = {k: {"before": before.get(k), "now": v} for k, v in now.items() if before and before.get(k) != v}
    if changed:
        raise CaptionError(f"{output} was started with other settings: {changed}. Resuming would mix captions of two "
                           "setups: use the same settings, or another --output.")


def _write_record(output, config: CaptionConfig, **results) -> None:
    from vidlm.runinfo import write_run_record

    path = run_record_path(output)
    tmp = write_run_record(Path(f"{path}.tmp"), config, **results)
    os.replace(tmp, path)  # a kill never leaves half a record


def caption_csv(config: CaptionConfig) -> CaptionResult:
    """Caption every row of `config.input_csv` into `config.output_csv`, resuming from what is already there.

    Under torchrun / accelerate launch, each process captions rows `row % WORLD_SIZE == RANK` into its own part file;
    rank 0 then waits for every part (at most `wait_timeout_s` without progress) and merges them into the output.
    """
    check_config(config)
    prompt = config.instruction()
    table = read_input(config.input_csv)
    proc = process_info()
    api = config.backend == "openai"
    if api:
        from vidlm import api_captioning

        client = api_captioning.client_for(config, proc)
    output = Path(config.output_csv)
    finished = read_finished(output, table)
    if finished:
        _check_same_settings(output, settings(config, prompt))
    if api:  # what earlier runs into this output spent, carried into the totals of this run's record
        before = api_captioning.recorded_usage(run_record_path(output))
        usage = {"api_usage": api_captioning.usage_record(config, api_captioning.Usage(), before)}
    else:
        usage = {}
    if not api:
        import torch

        threads = torch.get_num_threads()
    own_part = part_path(output, proc.rank, proc.world_size)
    writer = PartWriter(own_part, table, config.fsync_every_s)
    group = None
    try:
        done_path(own_part).unlink(missing_ok=True)  # a marker from an earlier run would say "complete" too soon
        group = ProcessGroup.start(proc, config.wait_timeout_s, "captioning processes")
        if proc.rank == 0:
            _write_record(output, config, settings=settings(config, prompt), rows=len(table.rows),
                          world_size=proc.world_size, **usage)
        todo = [i for i in range(proc.rank, len(table.rows), proc.world_size)
                if i not in finished or (config.retry_failed and finished[i][STATUS] == FAILED)]
        seconds = 0.0
        if api and todo:
            def save_usage(used):
                usage.update(api_usage=api_captioning.usage_record(config, used, before))
                _write_record(output, config, settings=settings(config, prompt), rows=len(table.rows),
                              world_size=proc.world_size, **usage)

            seconds, _ = api_captioning.caption_rows(table, todo, prompt, client, writer, save_usage)
        elif todo:
            workers, torch_threads = default_parallelism(proc.local_world_size)
            workers = workers if config.num_workers is None else config.num_workers
            torch.set_num_threads(config.torch_threads or torch_threads)
            model, processor = _load(config, proc)
            seconds = _caption_rows(model, processor, table, todo, prompt, config, writer, proc, workers)
        writer.close()
        mark_done(own_part, writer.written)
        result = CaptionResult(output, len(table.rows), writer.written, seconds, merged=False)
        if proc.rank == 0:
            parts = [part_path(output, r, proc.world_size) for r in range(proc.world_size)]
            wait_for_parts(parts, [done_path(p) for p in parts], config.wait_timeout_s, f"their part of {output}",
                           f"Run the same command again to resume, or `vidlm merge {table.path} --output {output}` "
                           "once every part is complete.")
            records = merge(output, table)
            result.merged = True
            result.ok = sum(r[STATUS] == OK for r in records)
            result.failed = len(records) - result.ok
            _write_record(output, config, settings=settings(config, prompt), rows=len(table.rows),
                          world_size=proc.world_size, ok=result.ok, failed=result.failed,
                          rank0_captioned=result.captioned, rank0_seconds=round(seconds, 3), **usage)
        return result
    finally:
        writer.close()
        if not api:
            torch.set_num_threads(threads)
        if group is not None:
            group.stop()


def merge_captions(input_csv, output_csv) -> CaptionResult:
    """Merge the part files of an earlier `caption_csv` run into `output_csv` (every row once, input order)."""
    table = read_input(input_csv)
    if Path(output_csv).resolve() == Path(input_csv).resolve():
        raise CaptionError(f"The output {output_csv} is the input CSV; pass the run's --output")
    records = merge(output_csv, table)
    ok = sum(r[STATUS] == OK for r in records)
    return CaptionResult(Path(output_csv), len(records), 0, 0.0, merged=True, ok=ok, failed=len(records) - ok)


def _load(config: CaptionConfig, proc: ProcessInfo):
    """Processor and model (base, or base + adapter) on this process's device."""
    import torch

    from vidlm.captioning import load_finetuned
    from vidlm.models import load_model, load_processor

    device_map = None
    if torch.cuda.is_available():
        device_map = {"": proc.local_rank % torch.cuda.device_count()}
    try:
        processor = load_processor(config.model)
        if config.adapter:
            model = load_finetuned(config.model, config.adapter, config.quantization, device_map=device_map)
        else:
            model = load_model(config.model, quantization=config.quantization, device_map=device_map)
    except OSError as err:  # what from_pretrained raises for a missing repo, folder or file
        raise CaptionError(f"Cannot load model {config.model!r}: {err}") from err
    return model.eval(), processor


class _VideoRows:
    """Input rows as a map-style dataset: row → (row, frames, None) or (row, None, error). Runs in worker processes."""

    def __init__(self, table: InputTable, num_frames: int):
        self.table, self.num_frames = table, num_frames

    def __len__(self) -> int:
        return len(self.table.rows)

    def __getitem__(self, row: int):
        from vidlm.video import VideoDecodeError, load_video

        path = self.table.video_path(row)
        if path is None:
            return row, None, "empty path"
        try:
            return row, load_video(path, num_frames=self.num_frames).frames, None
        except VideoDecodeError as err:
            return row, None, str(err)
        except Exception as err:  # a decoder failure on one file must fail that row only, never its neighbours
            return row, None, f"{path}: {type(err).__name__}: {err}"


class _Collate:
    """Processor inputs for the decodable videos of a batch (in the worker, so it overlaps generation)."""

    def __init__(self, processor, text: str):
        self.processor, self.text = processor, text

    def __call__(self, items):
        from vidlm.collate import generation_batch

        good = [(row, frames) for row, frames, error in items if error is None]
        errors = {row: error for row, _, error in items if error is not None}
        try:
            batch = generation_batch(self.processor, [self.text] * len(good), [f for _, f in good]) if good else None
        except Exception:
            # One odd clip (an unusual size, say) must not fail its neighbours: find it by trying each alone.
            kept = []
            for row, frames in good:
                try:
                    generation_batch(self.processor, [self.text], [frames])
                    kept.append((row, frames))
                except Exception as err:
                    errors[row] = f"{self.text!r} with this video could not be processed: {type(err).__name__}: {err}"
            good = kept
            batch = generation_batch(self.processor, [self.text] * len(good), [f for _, f in good]) if good else None
        return [row for row, _, _ in items], [row for row, _ in good], batch, errors


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


def _caption_rows(model, processor, table, todo, prompt, config, writer, proc, num_workers) -> float:
    """Caption `todo` rows in batches, appending each batch's records as it finishes; returns the seconds taken."""
    from torch.utils.data import DataLoader
    from vidlm.progress import tqdm

    from vidlm.captioning import generate_captions, generation_config
    from vidlm.families import family_of
    from vidlm.prompts import format_prompt

    import av  # noqa: F401  (imported before the workers fork, so that each does not import it again)

    text = format_prompt(family_of(model.config), prompt, processor=processor).text
    gen = generation_config(processor, config.max_new_tokens)
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    order = _length_order(table, todo) if config.group_by_length else list(todo)
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    loader = DataLoader(_VideoRows(table, config.num_frames), batch_sampler=batches, num_workers=num_workers,
                        collate_fn=_Collate(processor, text), prefetch_factor=4 if num_workers else None,
                        worker_init_fn=_CloseInherited(writer.fd))
    desc = "captioning" if proc.world_size == 1 else f"captioning (rank 0 of {proc.world_size})"
    bar = tqdm(total=len(order), unit="video", desc=desc, disable=not (config.progress and proc.rank == 0),
               smoothing=0.1)
    start, failed = time.perf_counter(), 0
    for rows, good_rows, batch, errors in loader:
        texts = generate_captions(model, processor, batch, gen, dtype) if good_rows else []
        captions = dict(zip(good_rows, texts, strict=True))  # one caption per decodable row, in batch order
        records = []
        for row in rows:
            record = {ROW: row, **table.rows[row]}
            if row in captions:
                records.append({**record, TEXT: captions[row], STATUS: OK, ERROR: ""})
            else:
                records.append({**record, TEXT: "", STATUS: FAILED, ERROR: errors[row]})
                failed += 1
        writer.write(records)
        bar.update(len(rows))
        if failed:
            bar.set_postfix(failed=failed)
    bar.close()
    return time.perf_counter() - start
