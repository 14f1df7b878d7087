"""Caption every video of a CSV: batched, decoded in worker processes, resumable after a crash, one shard per process.

    vidlm caption videos.csv --output captions.csv --model llava-hf/LLaVA-NeXT-Video-7B-hf --num-frames 8
    torchrun --nproc_per_node 4 -m vidlm.cli caption videos.csv --output captions.csv --model ...   # 4 shards

    result = caption_csv(CaptionConfig("videos.csv", "captions.csv", model="llava-hf/LLaVA-NeXT-Video-7B-hf"))

Each process appends its rows to its own part file as batches finish; running the same command again skips the
rows already there (see `vidlm.caption_files` for the files and the resume protocol). Once every process has
finished, rank 0 merges the parts into the output, every input row once and in input order.

Several processes: torchrun and `accelerate launch --multi_gpu` set RANK, WORLD_SIZE, LOCAL_RANK and a rendezvous
(MASTER_ADDR/PORT); the processes then meet at a gloo barrier once each has removed its stale completion marker, so
rank 0 never takes an earlier run's marker for a finished part. Processes started by hand with only RANK and
WORLD_SIZE skip that barrier: start them together. Rows that failed (a missing or undecodable video) are kept on
resume; `retry_failed` captions them again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Literal

from vidlm.caption_files import (ERROR, FAILED, OK, ROW, STATUS, TEXT, CaptionError, InputTable, PartWriter,
                                 done_path, mark_done, merge, part_path, read_finished, read_input, run_record_path)
from vidlm.prompt_table import PROMPTS, get_prompt


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class CaptionConfig:
    """What a captioning run depends on; `vidlm caption` has one flag per field (dashes for underscores)."""

    input_csv: str = field(metadata={"help": "CSV with a `path` column; relative paths are relative to the CSV's "
                                             "folder; other columns are carried through to the output"})
    output_csv: str = field(metadata={"help": "where the captions go: columns row, path, the other input columns, "
                                              "text (the caption), status (ok/failed), error"})
    model: str = field(metadata={"help": "base model: hub id or local folder"})
    adapter: str | None = _opt(None, "LoRA adapter folder written by finetune; leave out for the base model")
    quantization: Literal["4bit", "8bit", "none"] = _opt("4bit", "how the base model's weights are loaded")
    num_frames: int = _opt(8, "frames sampled uniformly from each video")
    batch_size: int = _opt(8, "videos per generate() call")
    prompt: str | None = _opt(None, "the instruction text; default: the prompt named by --prompt-name")
    prompt_name: str | None = _opt(None, f"a named instruction, one of {sorted(PROMPTS)}; default: 'default'")
    max_new_tokens: int = _opt(64, "longest caption, in tokens (greedy decoding stops earlier at EOS)")
    num_workers: int | None = _opt(None, "video-decoding processes per captioning process (0: decode in it); "
                                         "default: a quarter of its CPU cores, 2 to 4")
    group_by_length: bool = _opt(True, "batch videos of similar file size together (a proxy for duration and "
                                       "caption length); output rows still carry their input row number")
    retry_failed: bool = _opt(False, "on resume, caption rows that failed before again (default: keep them)")
    torch_threads: int | None = _opt(None, "torch threads per process; default: its share of the CPU cores (cores / "
                                           "processes per node) less the decoding workers, at least 1")
    fsync_every_s: float = _opt(5.0, "force rows to disk at least this often (they are flushed after every batch)")
    wait_timeout_s: float = _opt(1800.0, "rank 0 gives up waiting for the other parts when none has grown for this "
                                         "long; also bounds the start-up barrier")
    progress: bool = _opt(True, "show a progress bar (videos/s and ETA) on rank 0")


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


@dataclass
class ProcessInfo:
    """This process's place in a launch (torchrun / accelerate launch set these variables; one process otherwise)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1


def process_info(environ=os.environ) -> ProcessInfo:
    def number(name, default):
        value = environ.get(name, "")
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise CaptionError(f"{name}={value!r} in the environment is not an integer") from None

    world, rank = number("WORLD_SIZE", 1), number("RANK", 0)
    info = ProcessInfo(rank, world, number("LOCAL_RANK", rank), number("LOCAL_WORLD_SIZE", world))
    if world < 1 or not 0 <= rank < world:
        raise CaptionError(f"RANK={rank} and WORLD_SIZE={world} in the environment do not fit (0 <= RANK < "
                           "WORLD_SIZE); unset them for one process")
    return info


def resolve_prompt(config: CaptionConfig) -> str:
    """The instruction text: `prompt`, else the one `prompt_name` names, else the "default" one."""
    if config.prompt is not None and config.prompt_name is not None:
        raise CaptionError(f"Give a prompt or a prompt name, not both (prompt={config.prompt!r}, "
                           f"prompt_name={config.prompt_name!r})")
    if config.prompt is not None:
        if not config.prompt.strip():
            raise CaptionError("The prompt is empty; give an instruction such as 'Describe the video.'")
        return config.prompt
    try:
        return get_prompt(config.prompt_name or "default")
    except ValueError as err:
        raise CaptionError(str(err)) from None


def check_config(config: CaptionConfig) -> None:
    """Raise `CaptionError` for settings that cannot work, before anything slow happens."""
    for name in ("num_frames", "batch_size", "max_new_tokens"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise CaptionError(f"{name} must be a positive integer, got {value!r}")
    if config.num_workers is not None and (not isinstance(config.num_workers, int) or config.num_workers < 0):
        raise CaptionError(f"num_workers must be 0 or more, got {config.num_workers!r}")
    if config.torch_threads is not None and (not isinstance(config.torch_threads, int) or config.torch_threads < 1):
        raise CaptionError(f"torch_threads must be a positive integer, got {config.torch_threads!r}")
    if config.wait_timeout_s <= 0 or config.fsync_every_s < 0:
        raise CaptionError(f"wait_timeout_s must be > 0 and fsync_every_s >= 0, got {config.wait_timeout_s!r} and "
                           f"{config.fsync_every_s!r}")
    quantizations = typing.get_args(typing.get_type_hints(CaptionConfig)["quantization"])
    if config.quantization not in quantizations:
        raise CaptionError(f"Unknown quantization {config.quantization!r}; choose one of {list(quantizations)}")
    source, output = Path(config.input_csv), Path(config.output_csv)
    if output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source)):
        raise CaptionError(f"The output {output} is the input CSV; choose another --output (e.g. captions.csv)")
    if output.is_dir():
        raise CaptionError(f"The output {output} is a folder; give a file name such as {output / 'captions.csv'}")
    if config.adapter is not None and not Path(config.adapter, "adapter_config.json").is_file():
        raise CaptionError(f"No LoRA adapter in {config.adapter!r} (adapter_config.json missing): pass the folder "
                           "finetune wrote (…/adapter), or leave --adapter out to caption with the base model")
    model = config.model
    looks_local = model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model
    if Path(model).exists() and not Path(model, "config.json").is_file():
        raise CaptionError(f"The model folder {model!r} has no config.json; pass a checkpoint folder or a hub id")
    if looks_local and not Path(model).expanduser().exists():
        raise CaptionError(f"Model folder not found: {model!r}; pass a checkpoint folder or a hub id such as "
                           "llava-hf/LLaVA-NeXT-Video-7B-hf")


def settings(config: CaptionConfig, prompt: str) -> dict:
    """What the captions depend on; a resume must use the same (batch size and workers do not change captions)."""
    def where(p):
        return str(Path(p).resolve()) if p is not None and Path(p).exists() else p

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


def default_parallelism(local_world_size: int = 1) -> tuple[int, int]:
    """(decoding workers, torch threads) for one of `local_world_size` processes sharing this machine's cores.

    Cores are split between the processes; each runs 2 to 4 decoding workers (about a quarter of its share: they
    mostly wait on a full prefetch queue, and two absorb the jitter one left as gaps in generation on busy cores)
    and gives torch the rest, at least 1 thread. Oversubscribing torch is costly: on 2 busy cores, generation with 2
    torch threads next to a decoding worker ran 5-10x slower than with 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = max(1, cores // max(1, local_world_size))
    workers = min(4, max(2, share // 4))
    return workers, max(1, share - workers)


def caption_csv(config: CaptionConfig) -> CaptionResult:
    """Caption every row of `config.input_csv` into `config.output_csv`, resuming from what is already there.

    Under torchrun / accelerate launch, each process captions rows `row % WORLD_SIZE == RANK` into its own part file;
    rank 0 then waits for every part (at most `wait_timeout_s` without progress) and merges them into the output.
    """
    check_config(config)
    prompt = resolve_prompt(config)
    table = read_input(config.input_csv)
    proc = process_info()
    output = Path(config.output_csv)
    finished = read_finished(output, table)
    if finished:
        _check_same_settings(output, settings(config, prompt))
    import torch

    threads = torch.get_num_threads()
    own_part = part_path(output, proc.rank, proc.world_size)
    writer = PartWriter(own_part, table, config.fsync_every_s)
    group = None
    try:
        done_path(own_part).unlink(missing_ok=True)  # a marker from an earlier run would say "complete" too soon
        group = _ProcessGroup.start(proc, config.wait_timeout_s)
        if proc.rank == 0:
            _write_record(output, config, settings=settings(config, prompt), rows=len(table.rows),
                          world_size=proc.world_size)
        todo = [i for i in range(proc.rank, len(table.rows), proc.world_size)
                if i not in finished or (config.retry_failed and finished[i][STATUS] == FAILED)]
        workers, torch_threads = default_parallelism(proc.local_world_size)
        workers = workers if config.num_workers is None else config.num_workers
        torch.set_num_threads(config.torch_threads or torch_threads)
        seconds = 0.0
        if todo:
            model, processor = _load(config, proc)
            seconds = _caption_rows(model, processor, table, todo, prompt, config, writer, proc, workers)
        writer.close()
        mark_done(own_part, writer.written)
        result = CaptionResult(output, len(table.rows), writer.written, seconds, merged=False)
        if proc.rank == 0:
            _wait_for_parts(output, table, proc, config.wait_timeout_s)
            records = merge(output, table)
            result.merged = True
            result.ok = sum(r[STATUS] == OK for r in records)
            result.failed = len(records) - result.ok
            _write_record(output, config, settings=settings(config, prompt), rows=len(table.rows),
                          world_size=proc.world_size, ok=result.ok, failed=result.failed,
                          rank0_captioned=result.captioned, rank0_seconds=round(seconds, 3))
        return result
    finally:
        writer.close()
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
    from tqdm.auto import tqdm

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


class _ProcessGroup:
    """A gloo process group for a start barrier when the launcher offers a rendezvous (torchrun, accelerate launch).

    The barrier makes sure every process has removed its stale completion marker before rank 0 looks for markers.
    The end needs no barrier: rank 0 waits for the markers, with a timeout.
    """

    def __init__(self, dist, owned: bool):
        self.dist, self.owned = dist, owned

    @classmethod
    def start(cls, proc: ProcessInfo, timeout_s: float):
        if proc.world_size == 1:
            return None
        from datetime import timedelta

        import torch.distributed as dist

        if not dist.is_available():
            return None
        owned = False
        if not dist.is_initialized() and not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
            return None  # no rendezvous: processes must be started together (module notes)
        group = cls(dist, owned)
        try:
            if not dist.is_initialized():
                dist.init_process_group("gloo", rank=proc.rank, world_size=proc.world_size,
                                        timeout=timedelta(seconds=timeout_s))
                group.owned = True
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=timeout_s), wait_all_ranks=True)
            else:
                dist.barrier()
        except RuntimeError as err:
            group.stop()
            raise CaptionError(f"Not every captioning process reached the start within {timeout_s:.0f} s: "
                               f"{err}") from err
        return group

    def stop(self) -> None:
        if self.owned and self.dist.is_initialized():
            self.dist.destroy_process_group()
            self.owned = False


def _wait_for_parts(output: Path, table: InputTable, proc: ProcessInfo, timeout_s: float) -> None:
    """Block until every rank's completion marker exists; give up after `timeout_s` without any part growing."""
    parts = [part_path(output, r, proc.world_size) for r in range(proc.world_size)]

    def sizes():
        return [p.stat().st_size if p.exists() else -1 for p in parts]

    last, since = sizes(), time.monotonic()
    while True:
        waiting = [r for r, p in enumerate(parts) if not done_path(p).exists()]
        if not waiting:
            return
        now = sizes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > timeout_s:
            raise CaptionError(
                f"Waited {timeout_s:.0f} s for rank(s) {waiting} of {proc.world_size} to finish their part of "
                f"{output}, and no part grew meanwhile ({', '.join(parts[r].name for r in waiting)}). Are those "
                f"processes still running? Run the same command again to resume, or `vidlm merge {table.path} --output "
                f"{output}` once every part is complete."
            )
        time.sleep(0.2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`vidlm caption` flags: one per `CaptionConfig` field, named with dashes, with the field's help."""
    hints = typing.get_type_hints(CaptionConfig)
    for f in fields(CaptionConfig):
        text = f.metadata.get("help")
        if f.name == "input_csv":
            parser.add_argument("input_csv", metavar="INPUT.csv", help=text)
            continue
        flag = "--output" if f.name == "output_csv" else "--" + f.name.replace("_", "-")
        kind, choices = hints[f.name], None
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=text)
            continue
        if typing.get_origin(kind) is Literal:
            kind, choices = str, list(typing.get_args(kind))
        elif type(None) in typing.get_args(kind):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if f.name == "prompt_name":
            choices = sorted(PROMPTS)
        required = f.default is MISSING
        metavar = {"output_csv": "OUT.csv", "model": "ID_OR_PATH", "adapter": "DIR"}.get(f.name)
        parser.add_argument(flag, dest=f.name, type=kind, choices=choices, required=required, metavar=metavar,
                            default=None if required else f.default, help=text)


def run_cli(args: argparse.Namespace) -> int:
    """Run `vidlm caption` or `vidlm merge` from parsed arguments; user errors print one message and return 2."""
    try:
        if args.command == "merge":
            result = merge_captions(args.input_csv, args.output_csv)
        else:
            result = caption_csv(CaptionConfig(**{f.name: getattr(args, f.name) for f in fields(CaptionConfig)}))
    except CaptionError as err:
        print(f"vidlm {args.command}: error: {err}", file=sys.stderr)
        return 2
    if args.command == "caption":
        print(f"captioned {result.captioned} videos in {result.seconds:.1f} s ({result.videos_per_s:.2f} videos/s)",
              file=sys.stderr)
    if result.merged:
        print(f"wrote {result.output}: {result.rows} rows, {result.ok} ok, {result.failed} failed", file=sys.stderr)
    return 0
