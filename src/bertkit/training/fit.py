"""The training loop every task shares (QA, NER, masked-LM): AdamW with linear warmup/decay, length-grouped
batches padded to their longest row, bf16 autocast, atomic checkpoints, an exact resume, best-epoch
selection, and several CPU processes. A task says only what is particular to it, in a `Job`:

    job = Job(lengths=..., collate=..., loss=..., evaluate=..., score="f1", data_hash=..., settings=...)
    result = fit(model, job, config)

The output directory, when training ends (or stops at `max_steps`):

    OUTPUT/config.json, model.safetensors, tokenizer files   the best model by `job.score` (else the last);
                                                              plain `from_pretrained` and `bertkit.load` read it
    OUTPUT/train_summary.json                                 configuration, per-epoch metrics, best epoch
    OUTPUT/checkpoints/step-0000120/                          model + tokenizer + trainer_state.pt
                                                              (the latest and the best are kept)

A run resumed from its latest checkpoint continues exactly where it stopped: the weights, optimizer,
schedule, RNG states and the epoch's batch order are restored (`checkpoints.py`), so it ends with the same
weights, bit for bit, as a run that was never stopped. Under a launcher each process trains on its share
of every epoch's batches (`processes.py`); one process runs exactly as without them.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import check_writable, write_json_atomically
from ..loading import Model
from .batches import batch_seed, epoch_batches, set_attention_dropout
from .checkpoints import (
    check_resume,
    checkpoint_dir,
    copy_model_files,
    list_checkpoints,
    remove_checkpoints,
    restore,
    rng_states,
    run_settings,
    save_checkpoint,
)
from .loop_config import LoopConfig
from .optimizer import freeze_lowest_layers, limit_embedding_training, linear_scheduler, make_optimizer
from .processes import (
    average_gradients,
    broadcast_weights,
    from_rank0,
    gather,
    join_processes,
    shard,
    wait_for_all,
)
from .progress import TrainingProgress

# --- what a task gives and gets -----------------------------------------------------------------------------


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
        export: (chosen checkpoint, output directory) → write the output model (default: copy the files).
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
    export: Callable[[Path, Path], None] | None = None


@dataclass
class FitResult:
    """What a run did (QA, NER and masked-LM training all return it): `history` has one entry per evaluated
    epoch; `best` is the best by the job's score; `rows` are the training rows (QA and NER: windows);
    `settings` are the task's own (`Job.settings`: NER's `labels`)."""

    output_dir: str
    global_step: int
    completed: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    rows: int = 0
    examples_per_second: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def windows(self) -> int:
        """The training rows, by the name QA and NER give them (windows of text)."""
        return self.rows


def check_start(model: Model, config: Any, resume: bool) -> None:
    """Fail before any work when the rows cannot fit the model, the output cannot be written or holds another
    run: tasks call it before building their rows (`fit` calls it again, for free)."""
    max_length = getattr(config, "max_length", None)
    if max_length is not None:
        model.check_max_length(max_length)
    check_writable(config.output_dir, "dir")
    check_resume(Path(config.output_dir), resume)


# --- the loop -----------------------------------------------------------------------------------------------


def fit(
    model: Model, job: Job, config: LoopConfig, *, resume: bool = False, progress: bool = True
) -> FitResult:
    """Train `model.module` in place on the job's rows as `config` says, and write the output directory.

    Args:
        model: the model to train (its module is trained in place).
        job: what is particular to the task (see `Job`).
        config: the task's training configuration (a `LoopConfig`).
        resume: continue from the latest checkpoint in `config.output_dir` (an `InputError` if there is none).
        progress: show a progress bar on stderr (process 0 only).

    Under a launcher, every process calls `fit`; process 0 alone evaluates and writes, and every process
    returns when the output is complete.
    """
    import torch

    check_start(model, config, resume)
    rank, world = join_processes()
    if not len(job.lengths):
        raise InputError("no training rows")
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed + rank)  # dropout differs between processes
    run = Run(model, job, config, rank, world)
    if resume and list_checkpoints(run.out_dir):
        run.restore(list_checkpoints(run.out_dir)[-1])
    shown = min(run.state["epoch"] + 1, config.epochs)
    with TrainingProgress(progress and rank == 0, run.stop_at, run.state["global_step"], shown) as bar:
        run.train(bar)
    return run.finish()


class Run:
    """One call of `fit`: the module with its optimizer and schedule, the loop state that checkpoints
    hold, and the rows seen and time spent (for the rate).

    Args:
        model, job, config: as `fit` got them.
        rank, world: this process and the number of processes.
    """

    def __init__(self, model: Model, job: Job, config: LoopConfig, rank: int, world: int):
        self.model, self.module, self.job, self.config = model, model.module, job, config
        self.rank, self.world = rank, world
        self.out_dir = Path(config.output_dir)
        batches_per_epoch = math.ceil(len(job.lengths) / config.batch_size)
        self.steps_per_epoch = math.ceil(math.ceil(batches_per_epoch / world) / config.grad_accum)
        total_steps = self.steps_per_epoch * config.epochs
        self.stop_at = min(total_steps, config.max_steps or total_steps)
        if config.attention_dropout is not None:
            set_attention_dropout(self.module, config.attention_dropout)
        if world > 1:
            broadcast_weights(self.module)
        undecayed = limit_embedding_training(
            self.module, config.freeze_embeddings, config.train_embeddings_from
        )
        freeze_lowest_layers(self.module, config.freeze_layers)
        self.optimizer = make_optimizer(self.module, config.lr, config.weight_decay, undecayed=undecayed)
        self.scheduler = linear_scheduler(self.optimizer, config.warmup_ratio, total_steps)
        self.settings, self.defaults = run_settings(config, job.settings, world)
        self.state: dict[str, Any] = {
            "epoch": 0,
            "step_in_epoch": 0,
            "global_step": 0,
            "order": None,
            "history": [],
            "best": None,
        }
        self.seen, self.busy = 0, 0.0

    def restore(self, checkpoint: Path) -> None:
        """Continue from `checkpoint`: weights, optimizer, schedule, RNGs and the loop state."""
        self.state = restore(
            checkpoint,
            self.module,
            self.optimizer,
            self.scheduler,
            self.settings,
            self.defaults,
            self.job.data_hash,
            self.rank,
        )

    def train(self, bar: TrainingProgress) -> None:
        """Every epoch left (until `stop_at`): its steps, its evaluation, its checkpoint."""
        self.module.train()
        for epoch in range(self.state["epoch"], self.config.epochs):
            if self.state["global_step"] >= self.stop_at:
                break
            if epoch == self.state["epoch"] and self.state["order"] is not None:  # resuming inside it
                order = [np.asarray(b, dtype=np.int64) for b in self.state["order"]]
                first_step = self.state["step_in_epoch"]
            else:
                c = self.config
                order = epoch_batches(self.job.lengths, c.batch_size, c.seed, epoch, c.group_by_length)
                first_step = 0
            if self.train_epoch(epoch, order, first_step, bar) < self.steps_per_epoch:
                break  # stopped by max_steps inside the epoch
            if self.job.evaluate is not None and self.config.eval_every_epoch:
                self.evaluate(epoch, bar)
            self.save(epoch + 1, 0, None)

    def train_epoch(self, epoch: int, order: list[np.ndarray], first_step: int, bar: TrainingProgress) -> int:
        """The optimizer steps of one epoch from `first_step` on; returns the steps done of the epoch (all
        of them unless `stop_at` came first). Checkpoints inside the epoch are written here."""
        mine = shard(order, self.rank, self.world)
        accum, done = self.config.grad_accum, first_step
        for step_in_epoch in range(first_step, self.steps_per_epoch):
            first = step_in_epoch * accum
            group = mine[first : first + accum]
            tic = time.perf_counter()
            numbers = [(first + i) * self.world + self.rank for i in range(len(group))]  # see `shard`
            loss = self.step(group, epoch, numbers)
            self.busy += time.perf_counter() - tic
            self.seen += sum(len(rows) for rows in group) * self.world
            self.state["global_step"] += 1
            step = self.state["global_step"]
            bar.step(epoch, step_in_epoch, self.steps_per_epoch, step, loss, self.seen / self.busy)
            done = step_in_epoch + 1
            if done == self.steps_per_epoch:
                break  # at the epoch's end, the checkpoint follows the evaluation
            if step >= self.stop_at:
                self.save(epoch, done, order)
                break
            if self.config.save_every_steps and step % self.config.save_every_steps == 0:
                self.save(epoch, done, order)
        return done

    def step(self, group: list[np.ndarray], epoch: int, numbers: list[int]) -> float:
        """One optimizer step over `group` (grad_accum batches, `numbers` their places in the epoch's
        order); returns the mean loss (of this process)."""
        import torch

        total = 0.0
        for rows, number in zip(group, numbers, strict=True):
            batch = self.job.collate(rows, batch_seed(self.config.seed, epoch, number))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(self.config.bf16)):
                loss = self.job.loss(self.module, batch) / len(group)
            loss.backward()
            total += loss.item()
        if self.world > 1:
            average_gradients(self.module, self.world)
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def evaluate(self, epoch: int, bar: TrainingProgress) -> None:
        """Score the model after `epoch` (process 0 evaluates, every process records it)."""
        assert self.job.evaluate is not None
        entry = None
        if self.rank == 0:
            self.module.eval()
            entry = {"epoch": epoch + 1, "step": self.state["global_step"], **self.job.evaluate()}
            self.module.train()
        entry = from_rank0(entry, self.world)
        bar.print(f"epoch {entry['epoch']}: {self.job.summary(entry)}")
        self.state["history"].append(entry)
        best = self.state["best"]
        if best is None or entry[self.job.score] > best[self.job.score]:
            self.state["best"] = entry

    def save(self, epoch: int, step_in_epoch: int, order: list[np.ndarray] | None) -> None:
        """Checkpoint at an optimizer-step boundary; `order` is the epoch's batches when inside an epoch.

        Process 0 writes it, with the RNG states of every process, and keeps only it and the best."""
        batches = None if order is None else [b.tolist() for b in order]
        self.state.update(epoch=epoch, step_in_epoch=step_in_epoch, order=batches)
        rngs = gather(rng_states(), self.world)
        if self.rank != 0:
            return
        full = dict(self.state, settings=self.settings, data=self.job.data_hash, rng=rngs[0])
        if self.world > 1:
            full["rng_by_rank"] = rngs
        full.update(optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict())
        path = checkpoint_dir(self.out_dir, self.state["global_step"])
        save_checkpoint(path, self.model, full)
        best = self.state["best"]
        remove_checkpoints(
            self.out_dir, keep=[path] + ([checkpoint_dir(self.out_dir, best["step"])] if best else [])
        )

    def finish(self) -> FitResult:
        """The run's result; process 0 writes the output model (the best checkpoint's) and the summary."""
        self.module.eval()
        state = self.state
        chosen = state["best"]["step"] if state["best"] else state["global_step"]
        result = FitResult(
            output_dir=str(self.out_dir),
            global_step=state["global_step"],
            completed=state["epoch"] >= self.config.epochs,
            history=state["history"],
            best=state["best"],
            rows=len(self.job.lengths),
            examples_per_second=self.seen / self.busy if self.busy else 0.0,
            settings=self.job.settings,
        )
        if self.rank == 0:
            (self.job.export or copy_model_files)(checkpoint_dir(self.out_dir, chosen), self.out_dir)
            summary = dataclasses.asdict(result)
            summary.update(summary.pop("settings"), config=dataclasses.asdict(self.config), model_step=chosen)
            write_json_atomically(self.out_dir / "train_summary.json", summary)
        wait_for_all(self.world)  # the output is complete when any process returns
        return result
