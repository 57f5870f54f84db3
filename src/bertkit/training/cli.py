"""`bertkit train qa`, `bertkit evaluate qa`, `bertkit data check`: typer sub-apps over the training package.

As in the rest of the CLI, stdout carries results only (a table, or pure JSON with --json); progress, notes
and errors go to stderr, and problems are `BertkitError`s that `bertkit.cli.main` prints as one line.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import DataError, InputError

train_app = typer.Typer(help="Fine-tune a model.", no_args_is_help=True, add_completion=False)
evaluate_app = typer.Typer(help="Score a model or its predictions on gold data.", no_args_is_help=True)
data_app = typer.Typer(help="Check data files against a tokenizer.", no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print pure JSON on stdout.")]
MaxLengthOpt = Annotated[int, typer.Option(help="Tokens per window (special tokens included).")]
StrideOpt = Annotated[int, typer.Option(help="Tokens shared by consecutive windows.")]
# Options every `train` command has (each command sets its own defaults).
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training data.")]
LrOpt = Annotated[float, typer.Option(help="Peak learning rate (AdamW).")]
BatchSizeOpt = Annotated[int, typer.Option(help="Windows (rows) per forward pass.")]
GradAccumOpt = Annotated[int, typer.Option(help="Forward passes per optimizer step.")]
WarmupOpt = Annotated[float, typer.Option(help="Fraction of steps to warm up over.")]
WeightDecayOpt = Annotated[float, typer.Option(help="AdamW weight decay.")]
Bf16Opt = Annotated[bool, typer.Option("--bf16/--no-bf16", help="bfloat16 autocast.")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="Stop after this many optimizer steps (resumable).")]
SaveEveryOpt = Annotated[int, typer.Option(help="Checkpoint every N steps (0: per epoch).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint.")]
FreezeEmbeddingsOpt = Annotated[
    bool, typer.Option(help="Keep the word embeddings frozen (smaller deltas to ship).")
]
MetricOpt = Annotated[
    str | None,
    typer.Option(help="squad, squad_v2 or korquad (default: from the data file's version)."),
]


@train_app.callback()
def train_group() -> None:
    """Fine-tune a model."""


@evaluate_app.callback()
def evaluate_group() -> None:
    """Score a model or its predictions on gold data."""


@data_app.callback()
def data_group() -> None:
    """Check data files against a tokenizer."""


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def load_data(path: Path):
    """`load_qa_file`, with its warning about skipped examples shown as one note on stderr."""
    from .qa_loading import load_qa_file

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_qa_file(path)
    for warning in caught:
        err.print(f"note: {warning.message}", markup=False, style="yellow")
    if not dataset.examples:
        raise DataError(f"{path}: no usable examples")
    return dataset


def load_model(name: str | None, show_notes: bool = True):
    from ..loading import load

    model = load(name, task="qa")
    for note in model.notes if show_notes else []:
        err.print(f"note: {note}", markup=False, style="yellow")
    return model


@train_app.command("qa")
def train_qa(
    train: Annotated[
        list[Path],
        typer.Option("--train", help="Training file (SQuAD/KorQuAD JSON or JSONL); repeat for more."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the model and checkpoints.")],
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Evaluated after each epoch.")] = None,
    base: Annotated[
        str,
        typer.Option(
            "--base", help="Model to start from: a directory, a Hub id, or minilm (the embedded encoder)."
        ),
    ] = "minilm",
    epochs: EpochsOpt = 2,
    lr: LrOpt = 5e-5,
    batch_size: BatchSizeOpt = 16,
    grad_accum: GradAccumOpt = 1,
    warmup_ratio: WarmupOpt = 0.1,
    weight_decay: WeightDecayOpt = 0.01,
    max_length: MaxLengthOpt = 384,
    stride: StrideOpt = 128,
    answerless_ratio: Annotated[
        float, typer.Option(help="Fraction of windows without the answer to keep.")
    ] = 1.0,
    bf16: Bf16Opt = False,
    freeze_embeddings: FreezeEmbeddingsOpt = False,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, data order and sampling.")] = 0,
    max_steps: MaxStepsOpt = None,
    save_every_steps: SaveEveryOpt = 0,
    resume: ResumeOpt = False,
    lora_r: Annotated[
        int, typer.Option(help="Train LoRA adapters of this rank and the QA head only (0: all weights).")
    ] = 0,
    lora_alpha: Annotated[int, typer.Option(help="LoRA scaling numerator (scale = alpha / r).")] = 16,
    lora_dropout: Annotated[float, typer.Option(help="Dropout on the LoRA adapters' input.")] = 0.1,
    lora_export: Annotated[
        str,
        typer.Option(help="With LoRA, write 'merged' (a plain model directory) or 'adapter' (peft files)."),
    ] = "merged",
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model for extractive QA; the best epoch by dev F1 is written to --output.

    Under `torchrun --nproc_per_node N` (or `accelerate launch --multi_gpu --num_processes N`, which starts
    N CPU processes where there is no GPU) the processes share each epoch's batches; process 0 writes.
    """
    import torch

    from .qa import TrainConfig
    from .qa import train as run_training

    config = TrainConfig(
        output_dir=str(output),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_length=max_length,
        stride=stride,
        answerless_ratio=answerless_ratio,
        bf16=bf16,
        freeze_embeddings=freeze_embeddings,
        seed=seed,
        max_steps=max_steps,
        save_every_steps=save_every_steps,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        lora_export=lora_export,
    )
    config.check()
    examples = [example for path in train for example in load_data(path).examples]
    eval_data = load_data(eval_file) if eval_file is not None else None
    torch.manual_seed(seed)  # a new QA head is initialised from the torch RNG
    base_model = load_model(base, show_notes=False)  # an untrained QA head is what training starts from
    result = run_training(base_model, examples, config, eval_data, resume=resume)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return  # process 0 reports
    summary = {
        "output": result.output_dir,
        "steps": result.global_step,
        "completed": result.completed,
        "windows": result.windows,
        "examples_per_second": result.examples_per_second,
        "history": result.history,
        "best": result.best,
    }
    if as_json:
        emit_json(summary)
        return
    if result.history:
        table = Table(title="evaluation after each epoch")
        for column in ("epoch", "step", "exact match", "F1"):
            table.add_column(column, justify="right")
        for entry in result.history:
            best = " *" if entry == result.best else ""
            table.add_row(
                str(entry["epoch"]),
                str(entry["step"]),
                f"{entry['exact_match']:.2f}",
                f"{entry['f1']:.2f}{best}",
            )
        out.print(table)
    state = "finished" if result.completed else f"stopped at step {result.global_step} (--resume continues)"
    out.print(f"{state}; model written to {result.output_dir}", markup=False)


@evaluate_app.command("qa")
def evaluate_qa(
    data: Annotated[Path, typer.Option("--data", help="Gold data (SQuAD/KorQuAD/TyDi JSON or JSONL).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to run ('default' for the embedded one).")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="Predictions {id: answer} JSON, or qa-batch JSONL.")
    ] = None,
    metric: MetricOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the model's predictions {id: answer} here.")
    ] = None,
    max_length: MaxLengthOpt = 384,
    stride: StrideOpt = 128,
    dtype: Annotated[str, typer.Option(help="fp32, or bf16.")] = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Exact match and F1 of a model (run here) or of a predictions file, with the official metric."""
    from .metrics import METRICS, Metric, evaluate_predictions
    from .qa import evaluate

    if (model is None) == (predictions is None):
        raise InputError("give exactly one of --model and --predictions")
    if output is not None and model is None:
        raise InputError("--output writes a model's predictions: it needs --model")
    if metric is not None and metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    dataset = load_data(data)
    metric = metric or dataset.default_metric
    if model is not None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        loaded = load_model(model)
        columns = (TextColumn("answering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("evaluate", total=len(dataset.examples))
            scores, predicted = evaluate(
                loaded, dataset, metric, max_length, stride, dtype, lambda n: progress.advance(task, n)
            )
        if output is not None:
            write_json(output, predicted)
    else:
        assert predictions is not None
        golds = dataset.gold_answers()
        scores = evaluate_predictions(golds, read_predictions(predictions), cast(Metric, metric))
    if as_json:
        emit_json(scores)
        return
    table = Table(title=f"{data.name} ({metric})")
    table.add_column("")
    table.add_column("exact match", justify="right")
    table.add_column("F1", justify="right")
    table.add_column("questions", justify="right")
    for prefix, label in (("", "all"), ("HasAns_", "has answer"), ("NoAns_", "no answer")):
        if f"{prefix}f1" in scores:
            em, f1, n = scores[f"{prefix}exact_match"], scores[f"{prefix}f1"], scores[f"{prefix}n"]
            table.add_row(label, f"{em:.2f}", f"{f1:.2f}", str(n))
    out.print(table)
    if scores.get("missing"):
        err.print(f"note: {scores['missing']} questions have no prediction and score 0", style="yellow")


def read_predictions(path: Path) -> dict[str, str]:
    """`{id: answer}` from the official JSON format, or from `bertkit qa-batch` JSONL (its first answer)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    predictions = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            answers = record["answers"]
            predictions[str(record["id"])] = answers[0]["answer"] if answers else ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise DataError(
                f"{path}: line {number} is not a qa-batch record {{id, answers: [{{answer, ...}}]}}; "
                "predictions must be a JSON object {id: answer} or qa-batch JSONL"
            ) from None
    return predictions


def write_json(path: Path, value: Any) -> None:
    """Write JSON through a temporary file and `os.replace`: the file is whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None


@data_app.command("check")
def data_check(
    file: Annotated[Path, typer.Argument(help="QA data (SQuAD/KorQuAD/TyDi JSON or JSONL).")],
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help="Tokenizer directory (or model).")],
    max_length: MaxLengthOpt = 384,
    stride: StrideOpt = 128,
    show: Annotated[int, typer.Option(help="Differing answers to list (the table view).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Round-trip every gold answer through windows, labels and the decoder, and list what differs."""
    from ..loading import load_tokenizer
    from .qa_features import roundtrip_check

    dataset = load_data(file)
    result = roundtrip_check(
        load_tokenizer(tokenizer), dataset.examples, max_length, stride, metric=dataset.default_metric
    )
    summary = {"file": str(file), "tokenizer": tokenizer, "metric": dataset.default_metric}
    summary.update(result)
    if as_json:
        emit_json(summary)
        return
    table = Table(title=Text(f"{file.name} with {tokenizer}"))
    table.add_column("answers")
    table.add_column("total", justify="right")
    table.add_column("exact", justify="right")
    table.add_column("%", justify="right")
    rows = [("all", result["total"], result["exact"])]
    rows.append(("on token boundaries", result["token_boundary_total"], result["token_boundary_exact"]))
    for label, total, exact in rows:
        table.add_row(label, str(total), str(exact), f"{100 * exact / total:.2f}" if total else "-")
    out.print(table)
    if "metric_exact" in result:
        equal = (
            f"equal under the {dataset.default_metric} metric: {result['metric_exact']} of {result['total']}"
        )
        out.print(equal, markup=False)
    differ = result["differ"]
    if differ and show > 0:
        cases = Table(
            title=f"{len(differ)} answers differ" + (f" (first {show})" if len(differ) > show else "")
        )
        for column in ("id", "gold", "decoded", "reason"):
            cases.add_column(column)
        for case in differ[:show]:
            cases.add_row(
                Text(case["id"]), Text(case["gold"]), Text(case["got"] or "-"), Text(case["reason"])
            )
        out.print(cases)


# --- NER ----------------------------------------------------------------------------------------------------

AggregationOpt = Annotated[
    str, typer.Option(help="How tokens become entities: simple, first, average or max.")
]
KlueLevelOpt = Annotated[
    str, typer.Option(help="KLUE-NER files: score characters ('char') or space-separated words ('word').")
]
SchemeOpt = Annotated[str, typer.Option(help="CoNLL files: auto, BIO (strict) or IOB1 (converted to BIO).")]


def load_ner_data(path: Path, scheme: str = "auto", level: str = "char"):
    from .ner_data import load_ner_file

    return load_ner_file(path, scheme=scheme, level=level)


@train_app.command("ner")
def train_ner(
    train: Annotated[
        list[Path],
        typer.Option("--train", help="Training file (CoNLL token<TAB>TAG, or KLUE-NER); repeat for more."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the model and checkpoints.")],
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Evaluated after each epoch.")] = None,
    base: Annotated[
        str,
        typer.Option(
            "--base", help="Model to start from: a directory, a Hub id, or minilm (the embedded encoder)."
        ),
    ] = "minilm",
    epochs: EpochsOpt = 3,
    lr: LrOpt = 5e-5,
    batch_size: BatchSizeOpt = 16,
    grad_accum: GradAccumOpt = 1,
    warmup_ratio: WarmupOpt = 0.1,
    weight_decay: WeightDecayOpt = 0.01,
    max_length: MaxLengthOpt = 256,
    stride: Annotated[
        int | None,
        typer.Option(help="Tokens shared by consecutive windows (default: a quarter window, ≤ 64)."),
    ] = None,
    label_all_tokens: Annotated[
        bool, typer.Option("--label-all-tokens", help="Label every sub-token (I- after the first).")
    ] = False,
    aggregation: AggregationOpt = "first",
    scheme: SchemeOpt = "auto",
    klue_level: KlueLevelOpt = "char",
    bf16: Bf16Opt = False,
    seed: Annotated[int, typer.Option(help="Seed of the new head, dropout and data order.")] = 0,
    max_steps: MaxStepsOpt = None,
    save_every_steps: SaveEveryOpt = 0,
    freeze_embeddings: FreezeEmbeddingsOpt = False,
    resume: ResumeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model for NER; the best epoch by dev entity F1 is written to --output."""
    from ..loading import load
    from .ner import NERTrainConfig
    from .ner import train as run_training

    config = NERTrainConfig(
        output_dir=str(output),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_length=max_length,
        stride=min(64, max_length // 4) if stride is None else stride,
        label_all_tokens=label_all_tokens,
        aggregation=aggregation,
        bf16=bf16,
        seed=seed,
        max_steps=max_steps,
        save_every_steps=save_every_steps,
        freeze_embeddings=freeze_embeddings,
    )
    config.check()
    sentences = [s for path in train for s in load_ner_data(path, scheme, klue_level).sentences]
    eval_data = load_ner_data(eval_file, scheme, klue_level) if eval_file is not None else None
    base_model = load(base, task="ner")  # an untrained head is what training starts from: no note
    result = run_training(base_model, sentences, config, eval_data, resume=resume)
    summary = {
        "output": result.output_dir,
        "steps": result.global_step,
        "completed": result.completed,
        "windows": result.windows,
        "examples_per_second": result.examples_per_second,
        "labels": result.labels,
        "history": result.history,
        "best": result.best,
    }
    if as_json:
        emit_json(summary)
        return
    if result.history:
        table = Table(title="evaluation after each epoch")
        for column in ("epoch", "step", "precision", "recall", "F1"):
            table.add_column(column, justify="right")
        for entry in result.history:
            best = " *" if entry == result.best else ""
            table.add_row(
                str(entry["epoch"]),
                str(entry["step"]),
                f"{entry['precision']:.2f}",
                f"{entry['recall']:.2f}",
                f"{entry['f1']:.2f}{best}",
            )
        out.print(table)
    state = "finished" if result.completed else f"stopped at step {result.global_step} (--resume continues)"
    out.print(f"{state}; model written to {result.output_dir}", markup=False)


@evaluate_app.command("ner")
def evaluate_ner(
    data: Annotated[Path, typer.Option("--data", help="Gold data (CoNLL token<TAB>TAG, or KLUE-NER).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to run ('default' for the embedded one).")
    ] = None,
    aggregation: AggregationOpt = "first",
    scheme: SchemeOpt = "auto",
    klue_level: KlueLevelOpt = "char",
    max_length: Annotated[int | None, typer.Option(help="Tokens per window (default: the model's).")] = None,
    stride: Annotated[int | None, typer.Option(help="Tokens shared by consecutive windows.")] = None,
    dtype: Annotated[str, typer.Option(help="fp32, or bf16.")] = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Entity-level precision, recall and F1 (seqeval's default mode, 0-100) of a NER model on gold data."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..loading import load
    from .ner import evaluate

    dataset = load_ner_data(data, scheme, klue_level)
    loaded = load(model, task="ner")
    for note in loaded.notes:
        err.print(f"note: {note}", markup=False, style="yellow")
    columns = (TextColumn("tagging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("evaluate", total=len(dataset.sentences))
        scores = evaluate(
            loaded, dataset, aggregation, max_length, stride, dtype, lambda n: progress.advance(task, n)
        )
    result = {k: scores[k] for k in ("precision", "recall", "f1", "n", "per_type")}
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"{data.name} (entities over {dataset.level}s, {aggregation})")
    for column in ("type", "precision", "recall", "F1", "gold", "predicted"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, s in scores["per_type"].items():
        table.add_row(
            Text(kind),
            f"{s['precision']:.2f}",
            f"{s['recall']:.2f}",
            f"{s['f1']:.2f}",
            str(s["support"]),
            str(s["predicted"]),
        )
    table.add_row(
        "all",
        f"{scores['precision']:.2f}",
        f"{scores['recall']:.2f}",
        f"{scores['f1']:.2f}",
        str(scores["true_entities"]),
        str(scores["predicted_entities"]),
    )
    out.print(table)
    out.print(f"{scores['n']} sentences", markup=False)


def read_corpus(paths: list[Path], fmt: str, field: str) -> Iterator[str]:
    """The documents of corpus files, streamed (see `corpus.read_texts`)."""
    from ..corpus import read_texts

    for path in paths:
        yield from read_texts(path, fmt, field)


CorpusFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (by suffix), text (a document per line), blocks (blank-line separated), jsonl or squad.",
    ),
]
FieldOpt = Annotated[str, typer.Option(help="The JSONL field holding the text.")]
NspOpt = Annotated[bool, typer.Option("--nsp", help="Sentence pairs and the next-sentence head too.")]


@train_app.command("mlm")
def train_mlm(
    corpus: Annotated[list[Path], typer.Argument(help="Corpus files (text, blocks, JSONL or SQuAD JSON).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the model and checkpoints.")],
    base: Annotated[
        str | None,
        typer.Option(help="Model to continue pre-training: a directory, a Hub id, or minilm (the default)."),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="A config.json to build a new model from (pre-training from scratch)."),
    ] = None,
    tokenizer: Annotated[
        Path | None, typer.Option(help="With --config: the tokenizer directory (e.g. from train-tokenizer).")
    ] = None,
    eval_files: Annotated[
        list[Path] | None, typer.Option("--eval", help="Held-out corpus file; repeat for more.")
    ] = None,
    held_out_every: Annotated[
        int, typer.Option(help="Without --eval: hold out every N-th document (0: no evaluation).")
    ] = 20,
    corpus_format: CorpusFormatOpt = "auto",
    field: FieldOpt = "text",
    nsp: NspOpt = False,
    whole_word_mask: Annotated[
        bool, typer.Option("--whole-word-mask", help="Mask whole words, not single sub-tokens.")
    ] = False,
    mask_prob: Annotated[float, typer.Option(help="Fraction of tokens (or words) to predict.")] = 0.15,
    max_length: MaxLengthOpt = 128,
    epochs: EpochsOpt = 3,
    lr: LrOpt = 1e-4,
    batch_size: BatchSizeOpt = 32,
    grad_accum: GradAccumOpt = 1,
    warmup_ratio: WarmupOpt = 0.06,
    weight_decay: WeightDecayOpt = 0.01,
    bf16: Bf16Opt = False,
    freeze_embeddings: FreezeEmbeddingsOpt = False,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, pairs, batch order and masks.")] = 0,
    max_steps: MaxStepsOpt = None,
    save_every_steps: SaveEveryOpt = 0,
    resume: ResumeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Masked-LM (+ next-sentence) training: continue pre-training a model on your corpus, or pre-train a
    new one from a config; reports held-out masked-token accuracy and perplexity after each epoch."""
    from ..loading import load
    from .mlm import MLMTrainConfig, new_model
    from .mlm_data import held_out
    from .mlm import train as run_training

    if config_file is not None and base is not None:
        raise InputError("give --base (continue pre-training) or --config (a new model), not both")
    if tokenizer is not None and config_file is None:
        raise InputError("--tokenizer goes with --config (a continued model keeps its base's tokenizer)")
    if held_out_every < 0:
        raise InputError(f"--held-out-every must not be negative, got {held_out_every}")
    config = MLMTrainConfig(
        output_dir=str(output),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_length=max_length,
        mask_prob=mask_prob,
        whole_word_mask=whole_word_mask,
        nsp=nsp,
        bf16=bf16,
        freeze_embeddings=freeze_embeddings,
        seed=seed,
        max_steps=max_steps,
        save_every_steps=save_every_steps,
    )
    config.check()
    texts: Any = read_corpus(corpus, corpus_format, field)
    held: Any = None
    if eval_files:
        held = read_corpus(eval_files, corpus_format, field)
    elif held_out_every:
        texts, held = held_out(texts, held_out_every)
    task = "pretraining" if nsp else "mlm"
    model = (
        new_model(config_file, tokenizer, nsp, seed)
        if config_file is not None
        else load(base or "minilm", task)
    )
    result = run_training(model, texts, config, held, resume=resume)
    summary = {
        "output": result.output_dir,
        "steps": result.global_step,
        "completed": result.completed,
        "rows": result.rows,
        "examples_per_second": result.examples_per_second,
        "history": result.history,
        "best": result.best,
    }
    if as_json:
        emit_json(summary)
        return
    if result.history:
        table = Table(title="held-out evaluation after each epoch")
        columns = ["epoch", "step", "top-1 %", "top-5 %", "perplexity"] + (["NSP %"] if nsp else [])
        for column in columns:
            table.add_column(column, justify="right")
        for entry in result.history:
            best = " *" if entry == result.best else ""
            cells = [
                str(entry["epoch"]),
                str(entry["step"]),
                f"{entry['masked_accuracy']:.2f}{best}",
                f"{entry['top5_accuracy']:.2f}",
                f"{entry['perplexity']:.2f}",
            ]
            table.add_row(*cells, *([f"{entry.get('nsp_accuracy', 0.0):.2f}"] if nsp else []))
        out.print(table)
    state = "finished" if result.completed else f"stopped at step {result.global_step} (--resume continues)"
    out.print(f"{state}; model written to {result.output_dir}", markup=False)


@evaluate_app.command("mlm")
def evaluate_mlm(
    data: Annotated[list[Path], typer.Argument(help="Held-out corpus files.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to score ('default' for the embedded one).")
    ] = None,
    corpus_format: CorpusFormatOpt = "auto",
    field: FieldOpt = "text",
    nsp: NspOpt = False,
    max_length: MaxLengthOpt = 128,
    seed: Annotated[int, typer.Option(help="Seed of the sentence pairs.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Masked-token top-1/top-5 accuracy and perplexity (and NSP accuracy) of a model on held-out text."""
    from ..loading import load
    from .mlm import MLMTrainConfig, evaluate
    from .mlm_data import pretraining_rows

    loaded = load(model, "pretraining" if nsp else "mlm")
    for note in loaded.notes:
        err.print(f"note: {note}", markup=False, style="yellow")
    rows = pretraining_rows(loaded.tokenizer, read_corpus(data, corpus_format, field), max_length, nsp, seed)
    scores = evaluate(loaded, rows, MLMTrainConfig(max_length=max_length, nsp=nsp))
    if as_json:
        emit_json(scores)
        return
    table = Table()
    for column in ("metric", "value"):
        table.add_column(column)
    for key, value in scores.items():
        table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    out.print(table)
