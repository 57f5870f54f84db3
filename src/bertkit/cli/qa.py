"""`bertkit qa` (one question, one context of any length) and `bertkit qa-batch` (a file of questions)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..files import read_text
from ..tasks.qa import QAOptions
from ._util import (
    DtypeOpt,
    JsonOpt,
    ModelMaxLengthOpt,
    ModelOpt,
    PlotOpt,
    StrideOpt,
    default,
    emit_json,
    err,
    exactly_one,
    new_table,
    out,
    progress_bar,
    save_plot,
    show_notes,
)

TopKOpt = Annotated[int, typer.Option(help="Answers to return.")]
MaxAnswerLenOpt = Annotated[int, typer.Option(help="Longest answer, in tokens.")]
NoAnswerOpt = Annotated[
    bool, typer.Option("--no-answer", help="Also offer the empty answer (SQuAD 2.0 style).")
]
NullThresholdOpt = Annotated[float, typer.Option(help="With --no-answer: lower it to abstain more often.")]


# The options of `qa` and `qa-batch`, declared once: (command-line name, QAOptions field, annotation).
QA_OPTIONS = (
    ("top_k", "top_k", TopKOpt),
    ("max_answer_len", "max_answer_len", MaxAnswerLenOpt),
    ("max_length", "max_length", ModelMaxLengthOpt),
    ("stride", "stride", StrideOpt),
    ("no_answer", "handle_impossible_answer", NoAnswerOpt),
    ("null_threshold", "null_threshold", NullThresholdOpt),
)


def takes_qa_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the QA options in place of its `options: QAOptions` parameter, and call it with the
    `QAOptions` they make. Typer reads the command's signature, so `--help` lists them where `options` is.

        @takes_qa_options
        def qa(question: ..., options: QAOptions, dtype: ...) -> None: ...
        # bertkit qa -q Q --top-k 3 --dtype bf16  →  qa(question=Q, options=QAOptions(top_k=3), dtype="bf16")
    """
    signature = inspect.signature(command, eval_str=True)
    shared = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default(QAOptions, field), annotation=kind
        )
        for name, field, kind in QA_OPTIONS
    ]
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        parameters.extend(
            shared
            if parameter.name == "options"
            else [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)]
        )

    @functools.wraps(command)
    def with_options(**values: Any) -> None:
        options = QAOptions(**{field: values.pop(name) for name, field, _ in QA_OPTIONS})
        command(options=options, **values)

    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options


@takes_qa_options
def qa(
    question: Annotated[str, typer.Option("--question", "-q", help="The question.")],
    context: Annotated[
        str | None, typer.Option("--context", "-c", help="The context to answer from.")
    ] = None,
    context_file: Annotated[Path | None, typer.Option(help="Read the context from a UTF-8 file.")] = None,
    model: ModelOpt = None,
    options: QAOptions = QAOptions(),
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Answer a question from a context of any length (long contexts go through overlapping windows)."""
    from ..tasks.qa import QuestionAnswerer
    from ..tasks.qa_decoding import Answer

    exactly_one(("--context", context), ("--context-file", context_file))
    text = read_text(context_file) if context_file is not None else str(context)
    answerer = QuestionAnswerer(model, dtype=dtype)
    if plot is None:
        answers = answerer(question, text, options)
    else:  # the same answers, plus what the model saw, for the picture
        explained = answerer.explain(question, text, options)
        answers = [Answer(**a) for a in explained["answers"]]
        save_plot(lambda viz: viz.qa_figure(explained), plot)
    show_notes(answerer.notes)
    if as_json:
        emit_json([a.to_dict() for a in answers])
        return
    table = new_table("#", "answer", "start", "end", "score", left=("answer",))
    for i, a in enumerate(answers, 1):
        table.add_row(str(i), a.answer or "(no answer)", str(a.start), str(a.end), f"{a.score:.4f}")
    out.print(table)


SkipInvalidOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Answer the valid rows; write {id, error} for the others (default: refuse the file).",
    ),
]
RestartOpt = Annotated[
    bool, typer.Option("--restart", help="Discard OUTPUT.partial of an earlier run and start over.")
]


@takes_qa_options
def qa_batch(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="JSONL {id, question, context} or SQuAD JSON.")
    ],
    output_path: Annotated[Path, typer.Argument(metavar="OUTPUT", help="JSONL {id, answers} written here.")],
    model: ModelOpt = None,
    options: QAOptions = QAOptions(),
    dtype: DtypeOpt = "auto",
    skip_invalid: SkipInvalidOpt = False,
    restart: RestartOpt = False,
) -> None:
    """Answer every question of a file; windows of many documents are batched together. Every row is checked
    before any work; an interrupted run resumes (with the same settings, model and input) when rerun."""
    from ..tasks.qa import QuestionAnswerer
    from ..tasks.qa_batch import check_batch_paths, prepare_batch

    check_batch_paths(input_path, output_path)  # before the model loads
    answerer = QuestionAnswerer(model, dtype=dtype)
    show_notes(answerer.notes)
    batch = prepare_batch(
        answerer, input_path, output_path, options, skip_invalid=skip_invalid, restart=restart
    )
    counts: dict[str, Any]
    with progress_bar("answering", batch.scan.rows, transient=False) as advance:
        counts = batch.run(on_progress=advance)
    resumed = f" ({counts['resumed']} from an earlier run)" if counts["resumed"] else ""
    total = counts["answered"] + counts["invalid"] + counts["resumed"]
    err.print(f"wrote {total} answers to {output_path}{resumed}", markup=False)
    if counts["invalid"]:
        show_notes([f"{counts['invalid']} invalid rows have an {{id, error}} record in place of answers"])
