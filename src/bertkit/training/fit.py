"""The training loop every single-process task shares (NER, masked-LM): AdamW with linear warmup/decay,
length-grouped batches padded to their longest row, bf16 autocast, atomic checkpoints, an exact resume and
best-epoch selection. A task says only what is particular to it, in a `Job`:

    job = Job(lengths=..., collate=..., loss=..., evaluate=..., score="f1", data_hash=..., settings=...)
    result = fit(model, job, config)

The output directory is laid out as for QA (`training/loop.py`): the best epoch by `job.score` (else the
last) as a plain model directory, `train_summary.json`, and `checkpoints/step-NNNNNNN/` (the latest and the
best are kept). A run resumed from its latest checkpoint ends with the same weights, bit for bit, as one
that was never stopped: weights, optimizer, schedule, RNG states and the epoch's batch order are restored.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..loading import Model
from .loop import (
    STATE_FILE,
    checkpoints,
    epoch_batches,
    export_model,
    linear_schedule,
    load_weights,
    make_optimizer,
    make_progress,
    rng_states,
    save_checkpoint,
    set_rng_states,
    write_json_atomically,
)

# Settings a resumed run may change; all others change what the run computes and must stay as they were.
RESUMABLE_CHANGES = ("output_dir", "eval_every_epoch", "max_steps", "save_every_steps")


@dataclass
class Job:
    """What `fit` needs to know about a task.

    Args:
        lengths: tokens of each training row (for length-grouped batches).
        collate: (row indices, batch seed) → the model's keyword tensors, labels included. The seed is
            fixed per (run seed, epoch, batch), so random choices made here (masking) replay on resume.
        loss: (module, batch) → the scalar loss to minimise (called under autocast when bf16 is on).
        evaluate: () → metrics after an epoch (None: no evaluation); the module is in eval mode.
        score: the metric that picks the best epoch (higher is better).
        data_hash: a hash of the training rows: a resumed run must see the same data.
        settings: task settings a resumed run must keep (the config's are added by `fit`).
        summary: (metrics) → the line printed after each evaluation.
    """

    lengths: np.ndarray
    collate: Callable[[np.ndarray, int], dict[str, Any]]
    loss: Callable[[Any, dict[str, Any]], Any]
    evaluate: Callable[[], dict[str, Any]] | None = None
    score: str = "f1"
    data_hash: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    summary: Callable[[dict[str, Any]], str] = lambda m: ", ".join(
        f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float)
    )


@dataclass
class FitResult:
    """What a run did: `history` has one entry per evaluated epoch; `best` is the best by the job's score."""

    output_dir: str
    global_step: int
    completed: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    rows: int = 0
    examples_per_second: float = 0.0


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of batch `index` of `epoch`: the same batch gets the same random choices on every run."""
    return int(np.random.default_rng([seed, epoch, index]).integers(2**31))


def restore(
    checkpoint: Path, module: Any, optimizer: Any, scheduler: Any, settings: dict, data_hash: str
) -> dict:
    """Load a checkpoint into the module, optimizer, scheduler and RNGs; return the loop state."""
    import torch

    saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
    for key, value in settings.items():
        was = saved["settings"].get(key)
        if was != value:
            raise InputError(f"cannot resume from {checkpoint}: {key} was {was!r}, now {value!r}")
    if saved["data"] != data_hash:
        raise InputError(f"cannot resume from {checkpoint}: the training data differ from that run's")
    load_weights(module, checkpoint)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_states(saved["rng"])
    return {k: saved[k] for k in ("epoch", "step_in_epoch", "global_step", "order", "history", "best")}


def fit(model: Model, job: Job, config: Any, *, resume: bool = False, progress: bool = True) -> FitResult:
    """Train `model.module` in place on the job's rows as `config` says, and write the output directory.

    `config` is a task's configuration dataclass with at least: output_dir, epochs, lr, batch_size,
    grad_accum, warmup_ratio, weight_decay, max_grad_norm, bf16, seed, eval_every_epoch, max_steps,
    save_every_steps, group_by_length.
    """
    import torch

    out_dir = Path(config.output_dir)
    module = model.module
    if checkpoints(out_dir) and not resume:
        raise InputError(
            f"{out_dir} already holds checkpoints: resume with --resume, or use another --output"
        )
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if not len(job.lengths):
        raise InputError("no training rows")
    batches_per_epoch = math.ceil(len(job.lengths) / config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(module, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(int(config.warmup_ratio * total_steps), total_steps)
    )
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    settings.update(job.settings)
    state: dict[str, Any] = {
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "order": None,
        "history": [],
        "best": None,
    }
    latest = checkpoints(out_dir)[-1] if resume and checkpoints(out_dir) else None
    if latest is not None:
        state = restore(latest, module, optimizer, scheduler, settings, job.data_hash)

    def save(epoch: int, step_in_epoch: int, order: list[np.ndarray] | None) -> None:
        """Checkpoint at an optimizer-step boundary; `order` is the epoch's batches when inside an epoch."""
        batches = None if order is None else [b.tolist() for b in order]
        state.update(epoch=epoch, step_in_epoch=step_in_epoch, order=batches)
        path = out_dir / "checkpoints" / f"step-{state['global_step']:07d}"
        full = dict(state, settings=settings, data=job.data_hash, rng=rng_states())
        full.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
        save_checkpoint(path, model, full)
        keep = {path.name, f"step-{state['best']['step']:07d}" if state["best"] else ""}
        for old in checkpoints(out_dir):
            if old.name not in keep:
                shutil.rmtree(old)

    def step(group: list[np.ndarray], epoch: int, first_batch: int) -> float:
        total = 0.0
        for i, rows in enumerate(group):
            batch = job.collate(rows, batch_seed(config.seed, epoch, first_batch + i))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss = job.loss(module, batch) / len(group)
            loss.backward()
            total += loss.item()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return total

    stop_at = min(total_steps, config.max_steps or total_steps)
    bar = make_progress(progress)
    epoch_shown = min(state["epoch"] + 1, config.epochs)
    task = bar.add_task(
        "train", total=stop_at, completed=state["global_step"], loss=0.0, rate=0, epoch=epoch_shown
    )
    seen, busy = 0, 0.0
    module.train()
    with bar:
        for epoch in range(state["epoch"], config.epochs):
            if state["global_step"] >= stop_at:
                break
            if epoch == state["epoch"] and state["order"] is not None:  # resuming inside this epoch
                order = [np.asarray(b, dtype=np.int64) for b in state["order"]]
                first_step = state["step_in_epoch"]
            else:
                order = epoch_batches(
                    job.lengths, config.batch_size, config.seed, epoch, config.group_by_length
                )
                first_step = 0
            done = first_step
            for step_in_epoch in range(first_step, steps_per_epoch):
                first = step_in_epoch * config.grad_accum
                group = order[first : first + config.grad_accum]
                tic = time.perf_counter()
                loss = step(group, epoch, first)
                busy += time.perf_counter() - tic
                seen += sum(len(rows) for rows in group)
                state["global_step"] += 1
                bar.update(task, advance=1, loss=loss, rate=seen / busy, epoch=epoch + 1)
                if progress and not bar.console.is_terminal and state["global_step"] % 25 == 0:
                    bar.console.print(
                        f"epoch {epoch + 1} step {step_in_epoch + 1}/{steps_per_epoch} loss {loss:.4f} "
                        f"{seen / busy:.1f} ex/s"
                    )
                done = step_in_epoch + 1
                inside = done < steps_per_epoch  # at the epoch's end, the checkpoint follows the evaluation
                if inside and state["global_step"] >= stop_at:
                    save(epoch, done, order)
                    break
                if inside and config.save_every_steps and state["global_step"] % config.save_every_steps == 0:
                    save(epoch, done, order)
            if done < steps_per_epoch:
                break  # stopped by max_steps inside the epoch
            if job.evaluate is not None and config.eval_every_epoch:
                module.eval()
                entry = {"epoch": epoch + 1, "step": state["global_step"], **job.evaluate()}
                module.train()
                if progress:
                    bar.console.print(f"epoch {entry['epoch']}: {job.summary(entry)}")
                state["history"].append(entry)
                if state["best"] is None or entry[job.score] > state["best"][job.score]:
                    state["best"] = entry
            save(epoch + 1, 0, None)

    module.eval()
    chosen = state["best"]["step"] if state["best"] else state["global_step"]
    result = FitResult(
        output_dir=str(out_dir),
        global_step=state["global_step"],
        completed=state["epoch"] >= config.epochs,
        history=state["history"],
        best=state["best"],
        rows=len(job.lengths),
        examples_per_second=seen / busy if busy else 0.0,
    )
    export_model(out_dir / "checkpoints" / f"step-{chosen:07d}", out_dir)
    summary = dict(
        dataclasses.asdict(result), **job.settings, config=dataclasses.asdict(config), model_step=chosen
    )
    write_json_atomically(out_dir / "train_summary.json", summary)
    return result
