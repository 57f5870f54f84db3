"""Fine-tune a model for extractive QA, with the shared training loop (`training/fit.py`: AdamW, linear
warmup/decay, length-grouped batches, bf16, exact resume, several processes).

Read top to bottom: configuration → batches → LoRA → loss → evaluation → `train`.

The output directory is `fit`'s: the best model by held-out F1 (else the last) as a plain model directory,
`train_summary.json` and `checkpoints/`.

With `lora_r > 0` only LoRA adapters (peft) and the QA head are trained; checkpoints hold the adapter
(adapter_model.safetensors + adapter_config.json), and OUTPUT gets either the adapter merged into the base
(a plain model directory) or the adapter itself (`lora_export`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import InputError
from ..loading import Model, load, quiet_transformers
from ..runtime import cpu_threads
from ..tasks.qa import QAOptions, QuestionAnswerer
from ..tasks.qa_decoding import MASKED_LOGIT
from .batches import forward, padded_inputs, rows_hash
from .checkpoints import copy_model_files, load_weights
from .fit import FitResult, Job, LoopConfig, check_start, fit
from .metrics import Metric, evaluate_predictions
from .processes import join_processes
from .qa_data import QADataset, QAExample
from .qa_features import QAFeatures, qa_train_features

LORA_EXPORTS = ("merged", "adapter")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
QA_HEAD = "qa_outputs"  # the QA head of every BERT-family AutoModelForQuestionAnswering


@dataclass
class TrainConfig(LoopConfig):
    """How to train for QA: `LoopConfig`'s settings, and

    Args:
        max_length, stride: the windowing (as at inference).
        answerless_ratio: fraction of windows without their example's answer to keep.
        pad_to_max_length: pad every batch to max_length instead of to its longest window (slower; for
            comparisons).
        lora_r: rank of LoRA adapters on the encoder's Linear layers (0 = train all weights). The QA head
            is trained fully; everything else stays frozen.
        lora_alpha, lora_dropout: LoRA scaling (alpha / r) and dropout on the adapters' input.
        lora_export: what OUTPUT gets with LoRA: "merged" (adapters merged into the base: a plain model
            directory) or "adapter" (adapter_model.safetensors + adapter_config.json + tokenizer).
    """

    output_dir: str = "runs/qa"
    max_length: int = 384
    stride: int = 128
    answerless_ratio: float = 1.0
    pad_to_max_length: bool = False
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_export: str = "merged"

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        super().check()
        if self.lora_r < 0 or self.lora_alpha <= 0 or not 0.0 <= self.lora_dropout < 1.0:
            raise InputError(
                "lora_r must not be negative, lora_alpha must be positive, lora_dropout in [0, 1)"
            )
        if self.lora_export not in LORA_EXPORTS:
            raise InputError(
                f"lora_export must be one of {', '.join(LORA_EXPORTS)}, got {self.lora_export!r}"
            )


# --- batches ------------------------------------------------------------------------------------------------


def collate(features: QAFeatures, rows: np.ndarray, width: int | None, pad_token_id: int) -> dict[str, Any]:
    """Tensors of one batch, padded to its longest window (or to `width`)."""
    import torch

    w = features.windows
    batch = padded_inputs(w.input_ids, w.token_type_ids, rows, width, pad_token_id)
    # The loss sees the tokens the decoder can answer with: context tokens and CLS (see `qa_loss`).
    allowed = np.zeros(batch["input_ids"].shape, dtype=bool)
    for r, i in enumerate(rows):
        allowed[r, : len(w.context_mask[i])] = w.context_mask[i]
        allowed[r, w.cls_index[i]] = True
    batch.update(
        allowed=allowed,
        start_positions=features.start_positions[rows],
        end_positions=features.end_positions[rows],
    )
    return {name: torch.from_numpy(values) for name, values in batch.items()}


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


# --- loss --------------------------------------------------------------------------------------------------


def qa_loss(module: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy of the start and end labels over the tokens the decoder can pick.

    Unlike the loss inside `BertForQuestionAnswering`, padding and question tokens are masked out: training
    then optimises the same distribution `decode_answers` reads (softmax over context + CLS), and the loss
    does not depend on how much a batch is padded. Under bf16 the encoder runs in bf16,
    the softmax in fp32.
    """
    import torch.nn.functional as F

    out = forward(module, batch)
    start = out.start_logits.float().masked_fill(~batch["allowed"], MASKED_LOGIT)
    end = out.end_logits.float().masked_fill(~batch["allowed"], MASKED_LOGIT)
    return (
        F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])
    ) / 2


def fingerprint(features: QAFeatures) -> str:
    """A hash of the training windows and labels: a resumed run must see the same data."""
    return rows_hash([*features.windows.input_ids, features.start_positions, features.end_positions])


def export_merged(model: Model, checkpoint: Path, out_dir: Path) -> None:
    """A checkpoint's LoRA adapter merged into (a copy of) the base: a plain model directory in `out_dir`."""
    import tempfile

    module = copy.deepcopy(model.module)
    load_weights(module, checkpoint)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        module.merge_and_unload().save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        copy_model_files(Path(tmp), out_dir)


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
    options = QAOptions(max_length=max_length, stride=stride, handle_impossible_answer=no_answer)
    predictions = {}
    for first in range(0, len(examples), 64):
        chunk = examples[first : first + 64]
        answers = answerer.answer_many([e.question for e in chunk], [e.context for e in chunk], options)
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


# --- training -----------------------------------------------------------------------------------------------


def train(
    model: Model | str,
    examples: list[QAExample],
    config: TrainConfig,
    eval_data: QADataset | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Fine-tune `model` (an AutoModelForQuestionAnswering and its tokenizer) on `examples`.

    Args:
        model: the base model; its module is trained in place (with LoRA, `model.module` becomes the
            peft model wrapping it). A name (a directory, a Hub id, "minilm") is loaded with a new QA head
            seeded by `config.seed`, as `bertkit train qa --base NAME` does.
        examples: training examples.
        config: see `TrainConfig`.
        eval_data: evaluated after each epoch; the best epoch by F1 becomes the final model.
        resume: continue from the latest checkpoint in `config.output_dir` (an `InputError` if there is none).
        progress: show a progress bar on stderr (process 0 only).
    """
    import torch

    config.check()
    quiet_transformers()
    if isinstance(model, str):
        model = load(model, "qa", seed=config.seed)
    check_start(model, config, resume)
    _, world = join_processes()
    threads = max(1, cpu_threads() // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    torch.set_num_threads(threads)

    features = qa_train_features(
        model.tokenizer, examples, config.max_length, config.stride, config.answerless_ratio, config.seed
    )
    if config.lora_r:
        torch.manual_seed(config.seed)  # the adapters' initial weights
        model.module = add_lora(model, config)
    return fit(model, qa_job(model, features, config, eval_data), config, resume=resume, progress=progress)


def qa_job(model: Model, features: QAFeatures, config: TrainConfig, eval_data: QADataset | None) -> Job:
    """What `fit` needs to train `model` for QA on `features` (see `Job`)."""
    width = config.max_length if config.pad_to_max_length else None
    pad_id = model.tokenizer.pad_token_id or 0

    def scores() -> dict[str, Any]:
        dtype = "bf16" if config.bf16 else "fp32"
        assert eval_data is not None
        found, _ = evaluate(model, eval_data, None, config.max_length, config.stride, dtype)
        return {"exact_match": found["exact_match"], "f1": found["f1"]}

    return Job(
        lengths=features.lengths,
        collate=lambda rows, _seed: collate(features, rows, width, pad_id),
        loss=qa_loss,
        evaluate=scores if eval_data is not None else None,
        score="f1",
        data_hash=fingerprint(features),
        summary=lambda e: f"exact match {e['exact_match']:.2f}, F1 {e['f1']:.2f}",
        export=lambda checkpoint, out_dir: export_output(model, config, checkpoint, out_dir),
    )


def export_output(model: Model, config: TrainConfig, checkpoint: Path, out_dir: Path) -> None:
    """Write the chosen checkpoint's model into `out_dir`: its files, or with LoRA the adapter merged into
    the base (`lora_export="merged"`) or the adapter itself ("adapter")."""
    adapter = bool(config.lora_r) and config.lora_export == "adapter"
    if config.lora_r and not adapter:
        export_merged(model, checkpoint, out_dir)
    else:
        copy_model_files(checkpoint, out_dir)
    # The other kind of model files, left by an earlier export, would make the directory ambiguous.
    for name in ("config.json", "model.safetensors") if adapter else ADAPTER_FILES:
        (out_dir / name).unlink(missing_ok=True)
