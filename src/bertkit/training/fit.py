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
schedule, RNG states and the epoch's batch order are restored, so it ends with the same weights, bit for
bit, as a run that was never stopped.

Several processes (`torchrun --nproc_per_node N`, or `accelerate launch --multi_gpu --num_processes N`,
which on a machine without GPUs starts N CPU processes): each trains on its own share of every epoch's
batches, gradients are averaged over processes (gloo) before each optimizer step, and process 0 alone
evaluates and writes. One process runs exactly as without them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import fsync_dir, write_dir_atomically, write_json_atomically
from ..loading import Model

STATE_FILE = "trainer_state.pt"
# Settings a resumed run may change; all others change what the run computes and must stay as they were.
RESUMABLE_CHANGES = ("output_dir", "eval_every_epoch", "max_steps", "save_every_steps", "lora_export")


# --- batches ------------------------------------------------------------------------------------------------


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group_by_length: bool = True):
    """Window indices of each batch of one epoch, the same for the same (seed, epoch).

    Length grouping (as in transformers' LengthGroupedSampler): shuffle all windows, cut the shuffled list
    into buckets of 50 batches, sort each bucket by length, cut it into batches, then shuffle the batches.
    A batch holds windows of similar length, so padding to its longest window wastes little.

    >>> [b.tolist() for b in epoch_batches(np.array([9, 3, 8, 2]), 2, seed=0, epoch=0)]
    [[1, 3], [0, 2]]
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if group_by_length:
        bucket = 50 * batch_size
        order = np.concatenate(
            [
                b[np.argsort(-lengths[b], kind="stable")]
                for b in np.split(order, range(bucket, len(order), bucket))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def shard(order: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """This process's batches of an epoch: every `world`-th batch from `rank` on, the list first extended
    by its own start so that every process gets as many batches (they must step together).

    >>> shard([0, 1, 2, 3, 4], rank=1, world=2)
    [1, 3, 0]
    """
    if world == 1:
        return order
    total = math.ceil(len(order) / world) * world
    return [order[i % len(order)] for i in range(rank, total, world)]


def join_processes() -> tuple[int, int]:
    """(rank, number of processes); joins the gloo process group when launched as one of several.

    Launchers (torchrun, `accelerate launch --multi_gpu`) set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        # Long enough for process 0 to evaluate a dev set while the others wait.
        dist.init_process_group("gloo", timeout=timedelta(hours=2))
    return dist.get_rank(), dist.get_world_size()


def broadcast_weights(module: Any) -> None:
    """Give every process process 0's weights (a freshly initialised head may differ between them)."""
    import torch.distributed as dist

    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def average_gradients(module: Any, world: int) -> None:
    """Replace each gradient by its mean over the processes: one all-reduce of all gradients at once."""
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(mean.view_as(g))


def gather(value: Any, world: int) -> list[Any]:
    """`value` of every process, by rank (a list of one without other processes)."""
    if world == 1:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


def from_rank0(value: Any, world: int) -> Any:
    """Process 0's `value`, in every process."""
    if world == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def is_peft(module: Any) -> bool:
    return hasattr(module, "peft_config")


def make_optimizer(module: Any, config: LoopConfig) -> Any:
    """AdamW; matrices decay, vectors (biases, LayerNorm weights) do not."""
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: 0 → 1 over the warmup, then 1 → 0 at the last step.

    >>> f = linear_schedule(2, 10)
    >>> [round(f(s), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def rng_states() -> dict[str, Any]:
    """The python, numpy and torch RNG states, in types that `torch.load(weights_only=True)` reads."""
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, np.asarray(keys).tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    import torch

    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def save_checkpoint(path: Path, model: Model, state: dict[str, Any]) -> None:
    """Model (safetensors; with LoRA the adapter) + tokenizer + trainer_state.pt, written atomically."""
    import torch

    def write(tmp: Path) -> None:
        if is_peft(model.module):
            model.module.save_pretrained(tmp, save_embedding_layers=False)
        else:
            model.module.save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / STATE_FILE)

    write_dir_atomically(path, write)


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a `.tmp` directory is an interrupted write)."""
    found = [
        p for p in (output_dir / "checkpoints").glob("step-*") if p.suffix == "" and (p / STATE_FILE).exists()
    ]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def load_weights(module: Any, directory: Path) -> None:
    """Load the safetensors weights of a checkpoint into `module` (exact copies of the saved values); a
    peft module gets its adapter and QA head from the checkpoint's adapter."""
    from safetensors.torch import load_file

    weights: dict[str, Any] = {}
    for file in sorted(directory.glob("*.safetensors")):
        weights.update(load_file(file))
    if not is_peft(module):
        outcome = module.load_state_dict(weights, strict=False)
        # Tied weights (a masked-LM decoder is the word embeddings) are saved once, under one name.
        shared: dict[int, list[str]] = {}
        for name, tensor in module.state_dict().items():
            shared.setdefault(tensor.data_ptr(), []).append(name)
        tied = {n for names in shared.values() if len(names) > 1 and set(names) & set(weights) for n in names}
        if outcome.unexpected_keys or set(outcome.missing_keys) - tied:
            raise InputError(f"{directory} does not hold this model's weights")
        return
    from peft import set_peft_model_state_dict

    loaded: Any = set_peft_model_state_dict(module, weights)
    trained = {name for name, p in module.named_parameters() if p.requires_grad}
    missing = trained & set(loaded.missing_keys)
    if loaded.unexpected_keys or missing:
        raise InputError(f"{directory} does not hold this LoRA model's adapter")


def export_model(checkpoint: Path, out_dir: Path) -> None:
    """Copy a checkpoint's model and tokenizer files (not its trainer state) into `out_dir`, file by file
    through a temporary directory and `os.replace`, so each file is whole."""
    tmp = out_dir / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for source in checkpoint.iterdir():
        if source.is_file() and source.name != STATE_FILE:
            shutil.copyfile(source, tmp / source.name)
            with (tmp / source.name).open("rb+") as f:
                os.fsync(f.fileno())
    for path in tmp.iterdir():
        os.replace(path, out_dir / path.name)
    fsync_dir(out_dir)
    tmp.rmdir()


def make_progress(enabled: bool) -> Any:
    """A rich progress bar on stderr: steps, loss, windows per second, time left."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:.1f} ex/s"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


# --- the loop -----------------------------------------------------------------------------------------------


@dataclass
class LoopConfig:
    """What every task's training configuration holds (each task's config extends it).

    Args:
        output_dir: where the final model, the summary and the checkpoints go.
        epochs: passes over the training rows; the learning-rate schedule spans all of them.
        lr: peak learning rate of AdamW.
        batch_size: rows per forward pass.
        grad_accum: forward passes per optimizer step (an effective batch of batch_size * grad_accum).
        warmup_ratio: fraction of all optimizer steps over which the learning rate rises from 0.
        weight_decay: AdamW decay of matrices (biases and LayerNorm weights are not decayed).
        max_grad_norm: gradients are clipped to this norm (0 = no clipping).
        bf16: run forward and backward under `torch.autocast("cpu", dtype=torch.bfloat16)`.
        seed: seeds the initial RNG states, the batch order and any sampling.
        eval_every_epoch: evaluate on the eval data after each epoch (needs eval data).
        max_steps: stop after this many optimizer steps in all, saving a checkpoint; the schedule still
            spans all epochs, so `resume=True` later continues the same run.
        save_every_steps: also checkpoint every this many optimizer steps (0 = at epoch ends only).
        group_by_length: batch rows of similar length together (less padding).
        freeze_embeddings: keep the word embeddings as they are (a fine-tuned model then differs from
            its base only in the encoder and head, which keeps a shipped delta small).
    """

    output_dir: str = "runs/model"
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    bf16: bool = False
    seed: int = 0
    eval_every_epoch: bool = True
    max_steps: int | None = None
    save_every_steps: int = 0
    group_by_length: bool = True
    freeze_embeddings: bool = False

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        for name in ("epochs", "lr", "batch_size", "grad_accum"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise InputError("weight_decay and max_grad_norm must not be negative")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.save_every_steps < 0:
            raise InputError(f"save_every_steps must not be negative, got {self.save_every_steps}")


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
    """What a run did: `history` has one entry per evaluated epoch; `best` is the best by the job's score."""

    output_dir: str
    global_step: int
    completed: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    rows: int = 0
    examples_per_second: float = 0.0

    @property
    def windows(self) -> int:
        """The training rows, by the name QA and NER give them (windows of text)."""
        return self.rows


def check_start(model: Model, config: Any, resume: bool) -> None:
    """Fail before any work when the rows cannot fit the model or the output holds another run: tasks call
    it before building their rows (`fit` calls it again, for free)."""
    max_length = getattr(config, "max_length", None)
    positions = getattr(model.module.config, "max_position_embeddings", None)
    if max_length is not None and positions is not None and max_length > positions:
        raise InputError(f"max_length {max_length} exceeds the model's {positions} positions")
    if checkpoints(Path(config.output_dir)) and not resume:
        raise InputError(
            f"{config.output_dir} already holds checkpoints: resume with --resume, or use another --output"
        )


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of batch `index` of `epoch`: the same batch gets the same random choices on every run."""
    return int(np.random.default_rng([seed, epoch, index]).integers(2**31))


def restore(
    checkpoint: Path,
    module: Any,
    optimizer: Any,
    scheduler: Any,
    settings: dict,
    defaults: dict,
    data_hash: str,
    rank: int = 0,
) -> dict:
    """Load a checkpoint into the module, optimizer, scheduler and RNGs; return the loop state.

    `settings` values are compared with the checkpoint's; a setting the checkpoint lacks (added to bertkit
    after it was written) is compared with its value in `defaults`."""
    import torch

    saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
    for key, value in settings.items():
        was = saved["settings"].get(key, defaults.get(key))
        if was != value:
            raise InputError(f"cannot resume from {checkpoint}: {key} was {was!r}, now {value!r}")
    if saved["data"] != data_hash:
        raise InputError(f"cannot resume from {checkpoint}: the training data differ from that run's")
    load_weights(module, checkpoint)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_states(saved.get("rng_by_rank", [saved["rng"]])[rank])
    return {k: saved[k] for k in ("epoch", "step_in_epoch", "global_step", "order", "history", "best")}


def fit(
    model: Model, job: Job, config: LoopConfig, *, resume: bool = False, progress: bool = True
) -> FitResult:
    """Train `model.module` in place on the job's rows as `config` says, and write the output directory.

    `config` is a task's configuration (a `LoopConfig`). Under a launcher, every process calls `fit`; process 0 alone
    evaluates and writes, and every process returns when the output is complete.
    """
    import torch

    check_start(model, config, resume)
    rank, world = join_processes()
    progress = progress and rank == 0
    out_dir = Path(config.output_dir)
    module = model.module
    if not len(job.lengths):
        raise InputError("no training rows")
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed + rank)  # dropout differs between processes
    batches_per_epoch = math.ceil(len(job.lengths) / config.batch_size)
    steps_per_epoch = math.ceil(math.ceil(batches_per_epoch / world) / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    if world > 1:
        broadcast_weights(module)
    optimizer = make_optimizer(module, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(int(config.warmup_ratio * total_steps), total_steps)
    )
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    settings.update(job.settings)
    if world > 1:
        settings["processes"] = world
    defaults = {f.name: f.default for f in dataclasses.fields(config)} | {"processes": 1}
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
        state = restore(latest, module, optimizer, scheduler, settings, defaults, job.data_hash, rank)

    def save(epoch: int, step_in_epoch: int, order: list[np.ndarray] | None) -> None:
        """Checkpoint at an optimizer-step boundary; `order` is the epoch's batches when inside an epoch.

        Process 0 writes it, with the RNG states of every process."""
        batches = None if order is None else [b.tolist() for b in order]
        state.update(epoch=epoch, step_in_epoch=step_in_epoch, order=batches)
        rngs = gather(rng_states(), world)
        if rank != 0:
            return
        path = out_dir / "checkpoints" / f"step-{state['global_step']:07d}"
        full = dict(state, settings=settings, data=job.data_hash, rng=rngs[0])
        if world > 1:
            full["rng_by_rank"] = rngs
        full.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
        save_checkpoint(path, model, full)
        keep = {path.name, f"step-{state['best']['step']:07d}" if state["best"] else ""}
        for old in checkpoints(out_dir):
            if old.name not in keep:
                shutil.rmtree(old)

    def step(group: list[np.ndarray], epoch: int, numbers: list[int]) -> float:
        """One optimizer step over `group` (grad_accum batches, `numbers` their places in the epoch's
        order); returns the mean loss (of this process)."""
        total = 0.0
        for rows, number in zip(group, numbers, strict=True):
            batch = job.collate(rows, batch_seed(config.seed, epoch, number))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss = job.loss(module, batch) / len(group)
            loss.backward()
            total += loss.item()
        if world > 1:
            average_gradients(module, world)
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
            mine = shard(order, rank, world)
            done = first_step
            for step_in_epoch in range(first_step, steps_per_epoch):
                first = step_in_epoch * config.grad_accum
                group = mine[first : first + config.grad_accum]
                tic = time.perf_counter()
                numbers = [(first + i) * world + rank for i in range(len(group))]  # see `shard`
                loss = step(group, epoch, numbers)
                busy += time.perf_counter() - tic
                seen += sum(len(rows) for rows in group) * world
                state["global_step"] += 1
                bar.update(task, advance=1, loss=loss, rate=seen / busy, epoch=epoch + 1)
                if progress and not bar.console.is_terminal and state["global_step"] % 25 == 0:
                    # Logs (nohup, CI) get a plain line now and then instead of a bar they cannot show.
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
                entry = None
                if rank == 0:
                    module.eval()
                    entry = {"epoch": epoch + 1, "step": state["global_step"], **job.evaluate()}
                    module.train()
                entry = from_rank0(entry, world)
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
    if rank == 0:
        (job.export or export_model)(out_dir / "checkpoints" / f"step-{chosen:07d}", out_dir)
        summary = dict(
            dataclasses.asdict(result), **job.settings, config=dataclasses.asdict(config), model_step=chosen
        )
        write_json_atomically(out_dir / "train_summary.json", summary)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the output is complete when any process returns
    return result
