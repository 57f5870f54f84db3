"""`bertkit evaluate qa|ner|mlm`: score a model (run here) or its predictions on gold data, as tables a
person can read or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from ..training.mlm import MLMTrainConfig
from ..training.qa import TrainConfig
from ._util import (
    DecodingOpt,
    JsonOpt,
    MaxLengthOpt,
    StrideOpt,
    corpus_texts,
    default,
    emit_json,
    new_table,
    out,
    progress_bar,
    qa_dataset,
    show_notes,
)
from .train import AggregationOpt, CorpusFormatOpt, FieldOpt, KlueLevelOpt, NspOpt, SchemeOpt

evaluate_app = typer.Typer(help="Score a model or its predictions on gold data.", no_args_is_help=True)

EvalModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model to run ('default' for the embedded one).")
]
EvalDtypeOpt = Annotated[str, typer.Option(help="fp32, or bf16.")]


@evaluate_app.callback()
def evaluate_group() -> None:
    """Score a model or its predictions on gold data."""


@evaluate_app.command("qa")
def evaluate_qa(
    data: Annotated[Path, typer.Option("--data", help="Gold data (SQuAD/KorQuAD/TyDi JSON or JSONL).")],
    model: EvalModelOpt = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="Predictions {id: answer} JSON, or qa-batch JSONL.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="squad, squad_v2 or korquad (default: from the data file's version)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the model's predictions {id: answer} here.")
    ] = None,
    max_length: MaxLengthOpt = default(TrainConfig, "max_length"),
    stride: StrideOpt = default(TrainConfig, "stride"),
    dtype: EvalDtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Exact match and F1 of a model (run here) or of a predictions file, with the official metric.

    Every gold question is scored: one whose answer_start is wrong is kept (the metric compares answer texts
    only), and a note counts them. A predictions file without a single prediction for the data is an error,
    not a score of 0.00."""
    from ..errors import InputError
    from ..files import check_writable
    from ..training.answer_kinds import answer_kinds
    from ..training.metrics import METRICS, Metric, evaluate_predictions
    from ..training.predictions import read_predictions, write_predictions
    from ._util import exactly_one

    exactly_one(("--model", model), ("--predictions", predictions))
    if output is not None and model is None:
        raise InputError("--output writes a model's predictions: it needs --model")
    if output is not None:
        check_writable(output, "file")  # before the model runs
    if metric is not None and metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    dataset = qa_dataset(data, scoring_only=True)
    metric = metric or dataset.default_metric
    golds = dataset.gold_answers()
    if predictions is not None:
        predicted: dict[str, str] = read_predictions(predictions)
        scores = evaluate_predictions(golds, predicted, cast(Metric, metric))
    else:
        scores, predicted = run_qa_model(str(model), dataset, metric, max_length, stride, dtype)
    kinds = answer_kinds(golds, predicted, cast(Metric, metric))
    if as_json:
        emit_json(scores | {"answer_kinds": kinds})
    else:
        out.print(qa_scores_table(scores, f"{data.name} ({metric})"))
        out.print(answer_kinds_table(kinds))
    if scores.get("missing"):
        show_notes([f"{scores['missing']} questions have no prediction and score 0"])
    if output is not None and model is not None:  # after the scores: a failed write loses neither
        write_predictions(output, predicted)


def run_qa_model(
    name: str, dataset: Any, metric: str, max_length: int, stride: int, dtype: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The scores and predictions of a model on a dataset, with a progress bar."""
    from ..loading import load
    from ..training.qa import evaluate

    model = load(name, task="qa")
    show_notes(model.notes)
    with progress_bar("answering", len(dataset.examples)) as advance:
        return evaluate(model, dataset, metric, max_length, stride, dtype, advance)


def qa_scores_table(scores: dict[str, Any], title: str) -> Table:
    """Exact match, F1 and questions: of all questions, and of those with and without an answer."""
    table = new_table("", "exact match", "F1", "questions", left=("",), title=title)
    for prefix, label in (("", "all"), ("HasAns_", "has answer"), ("NoAns_", "no answer")):
        if f"{prefix}f1" in scores:
            em, f1, n = scores[f"{prefix}exact_match"], scores[f"{prefix}f1"], scores[f"{prefix}n"]
            table.add_row(label, f"{em:.2f}", f"{f1:.2f}", str(n))
    return table


def answer_kinds_table(kinds: dict[str, int]) -> Table:
    """Where the answers went (`training.answer_kinds`): the kinds that occur, with their share."""
    total = sum(kinds.values())
    table = new_table("answer", "questions", "share", left=("answer",), title="where the answers went")
    for kind, count in kinds.items():
        if count:
            table.add_row(kind.replace("_", " "), str(count), f"{100 * count / total:.1f} %")
    return table


@evaluate_app.command("ner")
def evaluate_ner(
    data: Annotated[Path, typer.Option("--data", help="Gold data (CoNLL token<TAB>TAG, or KLUE-NER).")],
    model: EvalModelOpt = None,
    aggregation: AggregationOpt = "first",
    scheme: SchemeOpt = "auto",
    klue_level: KlueLevelOpt = "char",
    max_length: Annotated[int | None, typer.Option(help="Tokens per window (default: the model's).")] = None,
    stride: Annotated[int | None, typer.Option(help="Tokens shared by consecutive windows.")] = None,
    decoding: DecodingOpt = "viterbi",
    all_types: Annotated[
        bool,
        typer.Option(
            "--all-types",
            help="Let the model tag every type it knows (default: only the types the data annotates).",
        ),
    ] = False,
    dtype: EvalDtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Entity-level precision, recall and F1 (seqeval's default mode, 0-100) of a NER model on gold data,
    and KLUE's entity macro F1 and character macro F1."""
    from ..loading import load
    from ..training.ner import evaluate
    from ..training.ner_data import load_ner_file

    dataset = load_ner_file(data, scheme, klue_level)
    loaded = load(model, task="ner")
    show_notes(loaded.notes)
    with progress_bar("tagging", len(dataset.sentences)) as advance:
        scores = evaluate(
            loaded,
            dataset,
            aggregation,
            max_length,
            stride,
            dtype,
            advance,
            decoding=decoding,
            data_types_only=not all_types,
        )
    if as_json:
        keys = ("precision", "recall", "f1", "macro_f1", "tag_macro_f1", "entity_types", "n", "per_type")
        emit_json({k: scores[k] for k in keys})
        return
    out.print(ner_scores_table(scores, f"{data.name} (entities over {dataset.level}s, {aggregation})"))
    out.print(
        f"{scores['n']} sentences; macro F1 over types {scores['macro_f1']:.2f}, "
        f"over {dataset.level} tags {scores['tag_macro_f1']:.2f} (KLUE's two figures)",
        markup=False,
    )


def ner_scores_table(scores: dict[str, Any], title: str) -> Table:
    """Precision, recall, F1, gold and predicted entities: per entity type, then of all."""
    columns = ("type", "precision", "recall", "F1", "gold", "predicted")
    table = new_table(*columns, left=("type",), title=title)
    for kind, s in scores["per_type"].items():
        counts = (str(s["support"]), str(s["predicted"]))
        table.add_row(Text(kind), f"{s['precision']:.2f}", f"{s['recall']:.2f}", f"{s['f1']:.2f}", *counts)
    counts = (str(scores["true_entities"]), str(scores["predicted_entities"]))
    table.add_row(
        "all", f"{scores['precision']:.2f}", f"{scores['recall']:.2f}", f"{scores['f1']:.2f}", *counts
    )
    return table


@evaluate_app.command("mlm")
def evaluate_mlm(
    data: Annotated[list[Path], typer.Argument(help="Held-out corpus files.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to score ('default' for the embedded one).")
    ] = None,
    corpus_format: CorpusFormatOpt = "auto",
    field: FieldOpt = "text",
    nsp: NspOpt = default(MLMTrainConfig, "nsp"),
    max_length: MaxLengthOpt = default(MLMTrainConfig, "max_length"),
    seed: Annotated[int, typer.Option(help="Seed of the sentence pairs.")] = default(MLMTrainConfig, "seed"),
    as_json: JsonOpt = False,
) -> None:
    """Masked-token top-1/top-5 accuracy and perplexity (and NSP accuracy) of a model on held-out text."""
    from ..loading import load
    from ..training.mlm import evaluate
    from ..training.mlm_data import pretraining_rows

    config = MLMTrainConfig(max_length=max_length, nsp=nsp)
    loaded = load(model, config.task)
    show_notes(loaded.notes)
    texts = corpus_texts(data, corpus_format, field)
    scores = evaluate(loaded, pretraining_rows(loaded.tokenizer, texts, max_length, nsp, seed), config)
    if as_json:
        emit_json(scores)
        return
    table = new_table("metric", "value", left=("metric", "value"))
    for key, value in scores.items():
        table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    out.print(table)
