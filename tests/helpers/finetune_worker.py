"""A helper process for the crash and concurrency tests: imports vidlm once, then forks one real fine-tune of the tiny
model per request, so that many runs can be killed with SIGKILL at chosen moments without paying the imports each time.

    python tests/helpers/finetune_worker.py    # one JSON request per stdin line, one JSON answer per stdout line

request: {"model", "csv", "out", "max_steps", "settings": {...FinetuneConfig fields},
          "kill_after": seconds after training began, or null,
          "die_in_save": k — the k-th torch.save writes half its bytes and the process kills itself, or null,
          "gate": a file step 1 waits for before going on, or null}
answer:  {"pid", "signal" (9 when killed) or "code" (exit status), "steps": the optimizer steps it ran, "seconds":
          from the start of training to the end, "stderr"}
"""

import io
import json
import os
import signal
import sys
import time
import traceback


def train(request: dict, events) -> None:
    import torch
    from transformers import TrainerCallback

    from vidlm.data.samples import read_captions_csv
    from vidlm.train import FinetuneConfig, finetune

    torch.set_num_threads(1)
    if request.get("die_in_save"):
        _die_in_save(torch, request["die_in_save"])

    class Report(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            events.write("begin\n")
            events.flush()

        def on_step_end(self, args, state, control, **kwargs):
            events.write(f"step {state.global_step}\n")
            events.flush()
            gate = request.get("gate")
            while gate and state.global_step == 1 and not os.path.exists(gate):
                time.sleep(0.05)

    config = FinetuneConfig(model=request["model"], output_dir=request["out"], max_steps=request["max_steps"],
                            **request.get("settings", {}))
    finetune(config, read_captions_csv(request["csv"])[:16], callbacks=[Report()], verbose=False)


def _die_in_save(torch, k: int) -> None:
    """Make the k-th torch.save (optimizer, scheduler, RNG state, training args) stop halfway, as a kill would."""
    save, calls = torch.save, [0]

    def torn_save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] != k or not isinstance(f, (str, os.PathLike)):
            return save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        save(obj, buffer, *args, **kwargs)
        with open(f, "wb") as out:
            out.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = torn_save


def serve() -> None:
    import torch  # noqa: F401  (imported once, before any fork)

    import vidlm.train  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        read, write = os.pipe()
        err_path = request["out"] + ".stderr"
        pid = os.fork()
        if pid == 0:  # the child: one fine-tune, its output kept out of the answers' stdout
            os.close(read)
            fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 0
            try:
                train(request, os.fdopen(write, "w"))
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        os.close(write)
        events = os.fdopen(read)
        lines = []
        first = events.readline()  # "begin", or "" when the child ended before training
        lines.append(first)
        began = time.monotonic()
        if request.get("kill_after") is not None:
            if first.startswith("begin"):
                time.sleep(request["kill_after"])
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        lines += events.read().splitlines()
        events.close()
        _, status = os.waitpid(pid, 0)
        answer = {"pid": pid, "steps": [int(x.split()[1]) for x in lines if x.startswith("step ")],
                  "seconds": time.monotonic() - began,  # from the start of training to the end of the process
                  "stderr": open(err_path).read()[-3000:] if os.path.exists(err_path) else ""}
        if os.WIFSIGNALED(status):
            answer["signal"] = os.WTERMSIG(status)
        else:
            answer["code"] = os.WEXITSTATUS(status)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
