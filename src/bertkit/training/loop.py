"""Fine-tune a model for extractive QA: AdamW, linear warmup/decay, length-grouped batches, exact resume.

Read top to bottom: configuration → batches → loss → checkpoints → evaluation → `train`.

The output directory, when training ends (or stops at `max_steps`):

    OUTPUT/config.json, model.safetensors, tokenizer files   the best model by dev F1 (else the last);
                                                              plain `from_pretrained` and `bertkit.load` read it
    OUTPUT/train_summary.json                                 configuration, per-epoch metrics, best epoch
    OUTPUT/checkpoints/step-0000120/                          model + tokenizer + trainer_state.pt
                                                              (the latest and the best are kept)

A run resumed from its latest checkpoint continues exactly where it stopped: the weights, optimizer,
schedule, RNG states and the epoch's batch order are restored, so it ends with the same weights, bit for
bit, as a run that was never stopped.

With `lora_r > 0` only LoRA adapters (peft) and the QA head are trained; checkpoints hold the adapter
(adapter_model.safetensors + adapter_config.json), and OUTPUT gets either the adapter merged into the base
(a plain model directory) or the adapter itself (`lora_export`).

Several processes (`torchrun --nproc_per_node N`, or `accelerate launch --multi_gpu --num_processes N`,
which on a machine without GPUs starts N CPU processes): each trains on its own share of every epoch's
batches, gradients are averaged over processes (gloo) before each optimizer step, and process 0 alone
evaluates and writes. One process runs exactly as without them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import InputError
from ..loading import Model, quiet_transformers
from ..runtime import cpu_threads, pad
from ..tasks.qa import MASKED_LOGIT, QuestionAnswerer
from .data import QADataset, QAExample
from .features import QAFeatures, qa_train_features
from .metrics import Metric, evaluate_predictions

STATE_FILE = "trainer_state.pt"
# Settings a resumed run may change; all others change what the run computes and must stay as they were.
RESUMABLE_CHANGES = ("output_dir", "eval_every_epoch", "max_steps", "save_every_steps", "lora_export")
LORA_EXPORTS = ("merged", "adapter")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
QA_HEAD = "qa_outputs"  # the QA head of every BERT-family AutoModelForQuestionAnswering


@dataclass
class TrainConfig:
    """How to train.

    Args:
        output_dir: where the final model, the summary and the checkpoints go.
        epochs: passes over the training windows; the learning-rate schedule spans all of them.
        lr: peak learning rate of AdamW.
        batch_size: windows per forward pass.
        grad_accum: forward passes per optimizer step (an effective batch of batch_size * grad_accum).
        warmup_ratio: fraction of all optimizer steps over which the learning rate rises from 0.
        weight_decay: AdamW decay of matrices (biases and LayerNorm weights are not decayed).
        max_grad_norm: gradients are clipped to this norm (0 = no clipping).
        max_length, stride: the windowing (as at inference).
        answerless_ratio: fraction of windows without their example's answer to keep.
        bf16: run forward and backward under `torch.autocast("cpu", dtype=torch.bfloat16)`.
        seed: seeds the initial RNG states, the batch order and the answerless-window sample.
        eval_every_epoch: evaluate on the eval data after each epoch (needs eval data).
        max_steps: stop after this many optimizer steps in all, saving a checkpoint; the schedule still
            spans all epochs, so `resume=True` later continues the same run.
        save_every_steps: also checkpoint every this many optimizer steps (0 = at epoch ends only).
        group_by_length: batch windows of similar length together (less padding).
        freeze_embeddings: keep the word embeddings as they are (a fine-tuned model then differs from
            its base only in the encoder and head, which keeps a shipped delta small).
        pad_to_max_length: pad every batch to max_length instead of to its longest window (slower; for
            comparisons).
        lora_r: rank of LoRA adapters on the encoder's Linear layers (0 = train all weights). The QA head
            is trained fully; everything else stays frozen.
        lora_alpha, lora_dropout: LoRA scaling (alpha / r) and dropout on the adapters' input.
        lora_export: what OUTPUT gets with LoRA: "merged" (adapters merged into the base: a plain model
            directory) or "adapter" (adapter_model.safetensors + adapter_config.json + tokenizer).
    """

    output_dir: str = "runs/qa"
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_length: int = 384
    stride: int = 128
    answerless_ratio: float = 1.0
    bf16: bool = False
    seed: int = 0
    eval_every_epoch: bool = True
    max_steps: int | None = None
    save_every_steps: int = 0
    group_by_length: bool = True
    pad_to_max_length: bool = False
    freeze_embeddings: bool = False
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_export: str = "merged"

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        positive = ("epochs", "lr", "batch_size", "grad_accum")
        for name in positive:
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
        if self.lora_r < 0 or self.lora_alpha <= 0 or not 0.0 <= self.lora_dropout < 1.0:
            raise InputError(
                "lora_r must not be negative, lora_alpha must be positive, lora_dropout in [0, 1)"
            )
        if self.lora_export not in LORA_EXPORTS:
            raise InputError(
                f"lora_export must be one of {', '.join(LORA_EXPORTS)}, got {self.lora_export!r}"
            )


@dataclass
class TrainResult:
    """What a run did: `history` has one entry per evaluated epoch; `best` is the best of them by F1."""

    output_dir: str
    global_step: int
    completed: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    windows: int = 0
    examples_per_second: float = 0.0


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


def collate(features: QAFeatures, rows: np.ndarray, width: int | None, pad_token_id: int) -> dict[str, Any]:
    """Tensors of one batch, padded to its longest window (or to `width`)."""
    import torch

    w = features.windows
    lengths = [len(w.input_ids[i]) for i in rows]
    width = width or max(lengths)
    # The loss sees the tokens the decoder can answer with: context tokens and CLS (see `qa_loss`).
    allowed = np.zeros((len(rows), width), dtype=bool)
    for r, i in enumerate(rows):
        allowed[r, : lengths[r]] = w.context_mask[i]
        allowed[r, w.cls_index[i]] = True
    batch = {
        "input_ids": torch.from_numpy(pad([w.input_ids[i] for i in rows], width, pad_token_id)),
        "attention_mask": torch.from_numpy(pad([np.ones(n, np.int64) for n in lengths], width, 0)),
        "allowed": torch.from_numpy(allowed),
        "start_positions": torch.from_numpy(features.start_positions[rows]),
        "end_positions": torch.from_numpy(features.end_positions[rows]),
    }
    if w.token_type_ids is not None:
        batch["token_type_ids"] = torch.from_numpy(pad([w.token_type_ids[i] for i in rows], width, 0))
    return batch


# --- processes ----------------------------------------------------------------------------------------------


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


# --- LoRA ---------------------------------------------------------------------------------------------------


def lora_targets(module: Any) -> list[str]:
    """Names of the Linear layers LoRA adapts: every Linear but the QA head, by its last name component.

    BERT, RoBERTa, ELECTRA: query, key, value, dense (attention.output.dense, intermediate.dense,
    output.dense); DistilBERT: q_lin, k_lin, v_lin, out_lin, lin1, lin2.
    """
    import torch

    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, layer in module.named_modules()
            if isinstance(layer, torch.nn.Linear) and name.split(".")[0] != QA_HEAD
        }
    )


def base_name(model: Model) -> str:
    """How an adapter names its base, so that `bertkit.load` finds it again offline: "default" for the
    embedded model, an absolute path for a directory, else the Hub id."""
    from ..loading import DEFAULT

    if model.source == "default":
        return DEFAULT
    if model.source == "local":
        return str(Path(model.name).expanduser().resolve())
    return model.name


def add_lora(model: Model, config: TrainConfig) -> Any:
    """The model's module wrapped by peft: LoRA adapters on the encoder, the QA head trained fully, the
    rest frozen. The adapter config records the base (see `base_name`)."""
    from peft import LoraConfig, get_peft_model

    if not hasattr(model.module, QA_HEAD):
        raise InputError(f"LoRA needs a QA head named {QA_HEAD}; {type(model.module).__name__} has none")
    lora = LoraConfig(
        task_type="QUESTION_ANS",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=lora_targets(model.module),  # the QA task adds qa_outputs to `modules_to_save`
    )
    module = get_peft_model(model.module, lora)
    module.peft_config["default"].base_model_name_or_path = base_name(model)
    return module


def is_peft(module: Any) -> bool:
    return hasattr(module, "peft_config")


# --- loss, optimizer, schedule, step ------------------------------------------------------------------------


def qa_loss(module: Any, batch: dict[str, Any], bf16: bool) -> Any:
    """Mean cross-entropy of the start and end labels over the tokens the decoder can pick.

    Unlike the loss inside `BertForQuestionAnswering`, padding and question tokens are masked out: training
    then optimises the same distribution `decode_answers` reads (softmax over context + CLS), and the loss
    does not depend on how much a batch is padded.
    """
    import torch
    import torch.nn.functional as F

    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = module(**inputs)
    start = out.start_logits.float().masked_fill(~batch["allowed"], MASKED_LOGIT)
    end = out.end_logits.float().masked_fill(~batch["allowed"], MASKED_LOGIT)
    return (
        F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])
    ) / 2


def make_optimizer(module: Any, config: TrainConfig) -> Any:
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


def train_step(
    module: Any,
    optimizer: Any,
    scheduler: Any,
    features: QAFeatures,
    group: list[np.ndarray],
    config: TrainConfig,
    width: int | None,
    pad_id: int,
    world: int = 1,
) -> float:
    """One optimizer step over `group` (grad_accum batches); returns the mean loss (of this process)."""
    import torch

    total = 0.0
    for rows in group:
        loss = qa_loss(module, collate(features, rows, width, pad_id), config.bf16) / len(group)
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


# --- checkpoints --------------------------------------------------------------------------------------------


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


def write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Write a directory as a whole: into `final.tmp`, fsync every file, then `os.replace` it into place.

    A crash leaves either the old directory or the new one, never a half-written one (a stale `.tmp`
    is cleared by the next write).
    """
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    for path in tmp.rglob("*"):
        if path.is_file():
            with path.open("rb+") as f:
                os.fsync(f.fileno())
    fsync_dir(tmp)
    old = final.with_name(final.name + ".old")
    if final.exists():  # os.replace cannot replace a non-empty directory
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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

    write_atomically(path, write)


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
        loaded = module.load_state_dict(weights, strict=False)
        # Tied weights (a masked-LM decoder is the word embeddings) are saved once, under one name.
        shared: dict[int, list[str]] = {}
        for name, tensor in module.state_dict().items():
            shared.setdefault(tensor.data_ptr(), []).append(name)
        tied = {n for names in shared.values() if len(names) > 1 and set(names) & set(weights) for n in names}
        if loaded.unexpected_keys or set(loaded.missing_keys) - tied:
            raise InputError(f"{directory} does not hold this model's weights")
        return
    from peft import set_peft_model_state_dict

    loaded: Any = set_peft_model_state_dict(module, weights)
    trained = {name for name, p in module.named_parameters() if p.requires_grad}
    missing = trained & set(loaded.missing_keys)
    if loaded.unexpected_keys or missing:
        raise InputError(f"{directory} does not hold this LoRA model's adapter")


def fingerprint(features: QAFeatures) -> str:
    """A hash of the training windows and labels: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for ids in features.windows.input_ids:
        digest.update(ids.tobytes())
    digest.update(features.start_positions.tobytes() + features.end_positions.tobytes())
    return digest.hexdigest()[:16]


def restore(
    checkpoint: Path,
    module: Any,
    optimizer: Any,
    scheduler: Any,
    settings: dict[str, Any],
    data_hash: str,
    rank: int = 0,
) -> dict[str, Any]:
    """Load a checkpoint into the module, optimizer, scheduler and RNGs; return the loop state."""
    import torch

    saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
    # A setting added after the checkpoint was written had its default value then.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)} | {"processes": 1}
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


def export_merged(model: Model, checkpoint: Path, out_dir: Path) -> None:
    """A checkpoint's LoRA adapter merged into (a copy of) the base: a plain model directory in `out_dir`."""
    import tempfile

    module = copy.deepcopy(model.module)
    load_weights(module, checkpoint)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        module.merge_and_unload().save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        export_model(Path(tmp), out_dir)


def write_json_atomically(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- evaluation ---------------------------------------------------------------------------------------------


def predict(
    model: Model,
    examples: list[QAExample],
    max_length: int = 384,
    stride: int = 128,
    dtype: str = "fp32",
    no_answer: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Question id → best answer text, through `QuestionAnswerer` (the decoder users get).

    `on_progress(n)` is called after each chunk of n questions.
    """
    answerer = QuestionAnswerer(model, dtype=dtype)
    settings: dict[str, Any] = dict(max_length=max_length, stride=stride, handle_impossible_answer=no_answer)
    predictions = {}
    for first in range(0, len(examples), 64):
        chunk = examples[first : first + 64]
        answers = answerer.answer_many([e.question for e in chunk], [e.context for e in chunk], **settings)
        predictions.update({e.id: (a[0].answer if a else "") for e, a in zip(chunk, answers, strict=True)})
        if on_progress is not None:
            on_progress(len(chunk))
    return predictions


def evaluate(
    model: Model,
    dataset: QADataset,
    metric: str | None = None,
    max_length: int = 384,
    stride: int = 128,
    dtype: str = "fp32",
    on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """EM/F1 (0-100) of a model on a dataset, and its predictions. The metric defaults to the file's."""
    metric = metric or dataset.default_metric
    no_answer = metric == "squad_v2"
    predictions = predict(model, dataset.examples, max_length, stride, dtype, no_answer, on_progress)
    return evaluate_predictions(dataset.gold_answers(), predictions, cast(Metric, metric)), predictions


def evaluate_epoch(model: Model, eval_data: QADataset, config: TrainConfig, epoch: int, step: int) -> dict:
    """EM/F1 after an epoch, then back to training mode."""
    dtype = "bf16" if config.bf16 else "fp32"
    scores, _ = evaluate(model, eval_data, None, config.max_length, config.stride, dtype)
    model.module.train()
    return {"epoch": epoch + 1, "step": step, "exact_match": scores["exact_match"], "f1": scores["f1"]}


# --- training -----------------------------------------------------------------------------------------------


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


def train(
    model: Model,
    examples: list[QAExample],
    config: TrainConfig,
    eval_data: QADataset | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Fine-tune `model` (an AutoModelForQuestionAnswering and its tokenizer) on `examples`.

    Args:
        model: the base model; its module is trained in place (with LoRA, `model.module` becomes the
            peft model wrapping it).
        examples: training examples.
        config: see `TrainConfig`.
        eval_data: evaluated after each epoch; the best epoch by F1 becomes the final model.
        resume: continue from the latest checkpoint in `config.output_dir` (a fresh start if there is none).
        progress: show a progress bar on stderr (process 0 only).
    """
    import torch

    config.check()
    quiet_transformers()
    rank, world = join_processes()
    progress = progress and rank == 0
    out_dir = Path(config.output_dir)
    module, tokenizer = model.module, model.tokenizer
    positions = module.config.max_position_embeddings
    if config.max_length > positions:
        raise InputError(f"max_length {config.max_length} exceeds the model's {positions} positions")
    if checkpoints(out_dir) and not resume:
        raise InputError(
            f"{out_dir} already holds checkpoints: resume with --resume, or use another --output"
        )
    threads = max(1, cpu_threads() // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    torch.set_num_threads(threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed + rank)  # dropout differs between processes

    features = qa_train_features(
        tokenizer, examples, config.max_length, config.stride, config.answerless_ratio, config.seed
    )
    lengths = features.lengths
    batches_per_epoch = math.ceil(len(features) / config.batch_size)
    steps_per_epoch = math.ceil(math.ceil(batches_per_epoch / world) / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    if config.freeze_embeddings:
        module.get_input_embeddings().weight.requires_grad_(False)
    if config.lora_r:
        module = model.module = add_lora(model, config)
    if world > 1:
        broadcast_weights(module)
    optimizer = make_optimizer(module, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(int(config.warmup_ratio * total_steps), total_steps)
    )
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    settings["processes"] = world
    data_hash = fingerprint(features)
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
        state = restore(latest, module, optimizer, scheduler, settings, data_hash, rank)

    def save(epoch: int, step_in_epoch: int, order: list[np.ndarray] | None) -> None:
        """Checkpoint at an optimizer-step boundary; `order` is the epoch's batches when inside an epoch.

        Process 0 writes it, with the RNG states of every process."""
        batches = None if order is None else [b.tolist() for b in order]
        state.update(epoch=epoch, step_in_epoch=step_in_epoch, order=batches)
        rngs = gather(rng_states(), world)
        if rank != 0:
            return
        path = out_dir / "checkpoints" / f"step-{state['global_step']:07d}"
        full = dict(state, settings=settings, data=data_hash, rng=rngs[0])
        if world > 1:
            full["rng_by_rank"] = rngs
        full.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
        save_checkpoint(path, model, full)
        keep = {path.name, f"step-{state['best']['step']:07d}" if state["best"] else ""}
        for old in checkpoints(out_dir):
            if old.name not in keep:
                shutil.rmtree(old)

    width = config.max_length if config.pad_to_max_length else None
    pad_id = tokenizer.pad_token_id or 0
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
                order = epoch_batches(lengths, config.batch_size, config.seed, epoch, config.group_by_length)
                first_step = 0
            mine = shard(order, rank, world)
            done = first_step
            for step_in_epoch in range(first_step, steps_per_epoch):
                group = mine[step_in_epoch * config.grad_accum : (step_in_epoch + 1) * config.grad_accum]
                tic = time.perf_counter()
                loss = train_step(module, optimizer, scheduler, features, group, config, width, pad_id, world)
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
            if eval_data is not None and config.eval_every_epoch:
                entry = None
                if rank == 0:
                    entry = evaluate_epoch(model, eval_data, config, epoch, state["global_step"])
                    torch.set_num_threads(threads)  # evaluation takes all cores
                entry = from_rank0(entry, world)
                if progress:
                    bar.console.print(
                        f"epoch {entry['epoch']}: exact match {entry['exact_match']:.2f}, F1 {entry['f1']:.2f}"
                    )
                state["history"].append(entry)
                if state["best"] is None or entry["f1"] > state["best"]["f1"]:
                    state["best"] = entry
            save(epoch + 1, 0, None)

    module.eval()
    chosen = state["best"]["step"] if state["best"] else state["global_step"]
    result = TrainResult(
        output_dir=str(out_dir),
        global_step=state["global_step"],
        completed=state["epoch"] >= config.epochs,
        history=state["history"],
        best=state["best"],
        windows=len(features),
        examples_per_second=seen / busy if busy else 0.0,
    )
    if rank == 0:
        checkpoint = out_dir / "checkpoints" / f"step-{chosen:07d}"
        if config.lora_r and config.lora_export == "merged":
            export_merged(model, checkpoint, out_dir)
        else:
            export_model(checkpoint, out_dir)
        # The other kind of model files, left by an earlier export, would make the directory ambiguous.
        adapter = bool(config.lora_r) and config.lora_export == "adapter"
        for name in ("config.json", "model.safetensors") if adapter else ADAPTER_FILES:
            (out_dir / name).unlink(missing_ok=True)
        summary = dict(dataclasses.asdict(result), config=dataclasses.asdict(config), model_step=chosen)
        write_json_atomically(out_dir / "train_summary.json", summary)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the output is complete when any process returns
    return result
