"""Masked-LM (+ next-sentence) training: continued pre-training on a domain corpus, or a small model from
scratch with a trained tokenizer.

Read top to bottom: configuration → loss → evaluation → `train` (the shared loop, `training/fit.py`). The
rows (documents → sentences → token rows, as BERT's `create_pretraining_data.py` builds them) and BERT's
masking are `training/mlm_data.py`'s.

Masks are drawn afresh for every batch, from a seed fixed per (seed, epoch, batch), so a resumed run draws
the same masks. Evaluation masks the held-out rows with one fixed seed: the same positions for every epoch
and model. The corpus is read as a stream (`corpus.read_texts`) and kept as int32 token ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..loading import BASE, Model, load, quiet_transformers
from ..runtime import cpu_threads
from .batches import IGNORE, model_inputs
from .fit import FitResult, Job, LoopConfig, check_start, fit
from .mlm_data import Masking, PretrainingRows, collate, fingerprint, pretraining_rows


@dataclass
class MLMTrainConfig(LoopConfig):
    """How to train: `LoopConfig`'s settings (`freeze_embeddings` also keeps the output layer tied to the
    word embeddings), and

    Args:
        max_length: tokens per row, special tokens included.
        mask_prob: fraction of tokens (or words) chosen for prediction.
        whole_word_mask: choose whole words (all their sub-tokens together) instead of tokens.
        nsp: build sentence pairs and train the next-sentence head too (a BERT pre-training model).
    """

    output_dir: str = "runs/mlm"
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32
    warmup_ratio: float = 0.06
    max_length: int = 128
    mask_prob: float = 0.15
    whole_word_mask: bool = False
    nsp: bool = False

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        super().check()
        if not 0.0 < self.mask_prob < 1.0:
            raise InputError(f"mask_prob must be between 0 and 1, got {self.mask_prob}")
        if self.max_length < 8:
            raise InputError(f"max_length must be at least 8, got {self.max_length}")

    @property
    def task(self) -> str:
        """What `bertkit.load` loads for this training: "pretraining" (both heads) with `nsp`, else "mlm"."""
        return "pretraining" if self.nsp else "mlm"


# --- loss ---------------------------------------------------------------------------------------------------


def head_outputs(module: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(masked-LM logits at the labelled positions [n, vocab], their labels [n], NSP logits or None).

    For BERT-family models (a `cls.predictions` head) the vocabulary projection runs only at the labelled
    positions (about 15 % of the tokens), which halves the cost of a step; other models go through their
    full forward pass.
    """
    inputs = model_inputs(batch)
    labels = batch["labels"]
    where = labels != IGNORE
    head = getattr(module, "cls", None)
    if head is None or not hasattr(head, "predictions"):
        out = module(**inputs)
        logits = out.logits if hasattr(out, "logits") else out.prediction_logits
        nsp = getattr(out, "seq_relationship_logits", None)
        return logits[where], labels[where], nsp
    encoded = module.bert(**inputs)
    logits = head.predictions(encoded.last_hidden_state[where])
    nsp = None
    if hasattr(head, "seq_relationship") and encoded.pooler_output is not None:
        nsp = head.seq_relationship(encoded.pooler_output)
    return logits, labels[where], nsp


def pretraining_loss(module: Any, batch: dict[str, Any]) -> Any:
    """Masked-LM cross-entropy over the labelled tokens, plus NSP cross-entropy where rows have labels."""
    import torch.nn.functional as F

    logits, labels, nsp = head_outputs(module, batch)
    loss = F.cross_entropy(logits.float(), labels)
    next_labels = batch["next_sentence_label"]
    if nsp is not None and bool((next_labels != IGNORE).any()):
        loss = loss + F.cross_entropy(nsp.float(), next_labels, ignore_index=IGNORE)
    return loss


def masking_of(model: Model, config: MLMTrainConfig) -> Masking:
    """How `config` masks batches for `model` (its tokenizer's [MASK], its vocabulary)."""
    return Masking(
        config.mask_prob,
        config.whole_word_mask,
        model.tokenizer.mask_token_id,
        model.module.config.vocab_size,
    )


# --- evaluation ---------------------------------------------------------------------------------------------

EVAL_SEED = 1234  # held-out rows are masked the same way for every epoch and every model


def evaluate(
    model: Model,
    rows: PretrainingRows,
    config: MLMTrainConfig | None = None,
    batch_size: int = 64,
    threads: int | None = None,
) -> dict[str, Any]:
    """Held-out masked-token accuracy (top-1, top-5, in %), perplexity (exp of the mean cross-entropy over
    the masked tokens) and, with NSP labels, next-sentence accuracy (%)."""
    import torch

    config = config or MLMTrainConfig()
    if not len(rows):
        raise InputError("no held-out rows to evaluate")
    if threads:
        torch.set_num_threads(threads)
    module = model.module
    masking = masking_of(model, config)
    order = np.argsort(rows.lengths, kind="stable")
    top1 = top5 = n = 0
    nll = 0.0
    nsp_right = nsp_n = 0
    was_training = module.training
    module.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(config.bf16)):
        for b, first in enumerate(range(0, len(order), batch_size)):
            batch = collate(rows, order[first : first + batch_size], EVAL_SEED + b, masking)
            logits, labels, nsp = head_outputs(module, batch)
            logits = logits.float()
            nll += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            best = logits.topk(5, dim=-1).indices
            top1 += int((best[:, 0] == labels).sum())
            top5 += int((best == labels[:, None]).any(dim=1).sum())
            n += len(labels)
            nl = batch["next_sentence_label"]
            if nsp is not None and bool((nl != IGNORE).any()):
                keep = nl != IGNORE
                nsp_right += int((nsp.float().argmax(-1)[keep] == nl[keep]).sum())
                nsp_n += int(keep.sum())
    module.train(was_training)
    scores: dict[str, Any] = {
        "masked_accuracy": 100.0 * top1 / n,
        "top5_accuracy": 100.0 * top5 / n,
        "perplexity": math.exp(nll / n),
        "masked_tokens": n,
    }
    if nsp_n:
        scores.update(nsp_accuracy=100.0 * nsp_right / nsp_n, nsp_pairs=nsp_n)
    return scores


def describe(scores: dict[str, Any]) -> str:
    """One line of scores for a person."""
    line = (
        f"masked top-1 {scores['masked_accuracy']:.2f} %, top-5 {scores['top5_accuracy']:.2f} %, "
        f"perplexity {scores['perplexity']:.2f}"
    )
    return line + (f", NSP {scores['nsp_accuracy']:.2f} %" if "nsp_accuracy" in scores else "")


# --- training -----------------------------------------------------------------------------------------------


def train(
    model: Model | str,
    texts: Iterable[str],
    config: MLMTrainConfig,
    eval_texts: Iterable[str] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> FitResult:
    """Train `model` (an AutoModelForMaskedLM, or AutoModelForPreTraining with `config.nsp`) on documents.

    Args:
        model: the model to train in place (see `starting_model`); a name is loaded for `config.task`
            with any new head seeded by `config.seed`.
        texts: the training documents (a stream is fine: it is read once).
        config: see `MLMTrainConfig`.
        eval_texts: held-out documents, scored after each epoch; the best epoch by masked-token accuracy
            becomes the final model.
        resume: continue from the latest checkpoint in `config.output_dir`.
        progress: show a progress bar on stderr.
        threads: torch threads (default: the usable cores).
    """
    import torch

    config.check()
    quiet_transformers()
    if isinstance(model, str):
        model = load(model, config.task, seed=config.seed)
    module, tokenizer = model.module, model.tokenizer
    if tokenizer.mask_token_id is None:
        raise InputError("the tokenizer has no mask token: masked-LM training needs one")
    if config.nsp and not hasattr(getattr(module, "cls", None), "seq_relationship"):
        raise InputError(
            f"{type(module).__name__} has no next-sentence head: load the base for 'pretraining' to train NSP"
        )
    check_start(model, config, resume)
    threads = threads or cpu_threads()
    torch.set_num_threads(threads)
    rows = pretraining_rows(tokenizer, texts, config.max_length, config.nsp, config.seed)
    eval_rows = None
    if eval_texts is not None:
        eval_rows = pretraining_rows(tokenizer, eval_texts, config.max_length, config.nsp, config.seed + 1)
    masking = masking_of(model, config)
    job = Job(
        lengths=rows.lengths,
        collate=lambda indices, seed: collate(rows, indices, seed, masking),
        loss=pretraining_loss,
        evaluate=(lambda: evaluate(model, eval_rows, config, threads=threads)) if eval_rows else None,
        score="masked_accuracy",
        data_hash=fingerprint(rows),
        summary=describe,
    )
    return fit(model, job, config, resume=resume, progress=progress)


def starting_model(
    config: MLMTrainConfig,
    base: str | None = None,
    model_config: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
) -> Model:
    """The model masked-LM training starts from, as `bertkit train mlm` chooses it: `base` (default: the
    embedded encoder, "minilm") continued, or a new model built from `model_config` (pre-training from
    scratch); any new weights are seeded by `config.seed`.

    Args:
        config: the run's configuration (its `task` and `seed`).
        base: a directory, a Hub id or "minilm"; not with `model_config`.
        model_config: a config.json to build a new model from (see `new_model`).
        tokenizer_dir: with `model_config`, the tokenizer; a continued model keeps its base's.
    """
    if model_config is not None and base is not None:
        raise InputError("give --base (continue pre-training) or --config (a new model), not both")
    if tokenizer_dir is not None and model_config is None:
        raise InputError("--tokenizer goes with --config (a continued model keeps its base's tokenizer)")
    if model_config is not None:
        return new_model(model_config, tokenizer_dir, config.nsp, config.seed)
    return load(base or BASE, config.task, seed=config.seed)


def new_model(config_file: str | Path, tokenizer_dir: str | Path | None, nsp: bool, seed: int = 0) -> Model:
    """A new, randomly initialised (seeded) model from a config.json, sized to a tokenizer's vocabulary:
    pre-training from scratch.

    Args:
        config_file: a transformers config JSON (`model_type` defaults to "bert"); `vocab_size` is set from
            the tokenizer.
        tokenizer_dir: the tokenizer (e.g. from `bertkit train-tokenizer`); None: the embedded MiniLM's.
        nsp: build the pre-training model (masked-LM + next-sentence heads) instead of masked-LM only.
    """
    import json

    import torch
    import transformers

    from ..loading import load_tokenizer

    try:
        settings = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the model config {config_file}: {e}") from None
    if not isinstance(settings, dict):
        raise InputError(f"{config_file} is not a JSON object of model settings")
    tokenizer = load_tokenizer(None if tokenizer_dir is None else str(tokenizer_dir))
    settings = {k: v for k, v in settings.items() if k not in ("architectures", "transformers_version")}
    model_type = settings.pop("model_type", "bert")
    settings["vocab_size"] = len(tokenizer)
    settings.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
    try:
        config = transformers.AutoConfig.for_model(model_type, **settings)
    except (ValueError, TypeError) as e:
        raise InputError(f"{config_file}: {e}") from None
    auto = transformers.AutoModelForPreTraining if nsp else transformers.AutoModelForMaskedLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = auto.from_config(config)
    return Model(tokenizer=tokenizer, module=module.eval(), name=str(config_file), source="new")
