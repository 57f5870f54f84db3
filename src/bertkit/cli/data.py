"""`bertkit data check`: round-trip every gold answer of a QA file through windows, labels and the decoder,
and list what differs (what a tokenizer cannot label exactly)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..training.qa import TrainConfig
from ._util import JsonOpt, MaxLengthOpt, StrideOpt, default, emit_json, new_table, out, qa_dataset

data_app = typer.Typer(help="Check data files against a tokenizer.", no_args_is_help=True)


@data_app.callback()
def data_group() -> None:
    """Check data files against a tokenizer."""


@data_app.command("check")
def data_check(
    file: Annotated[Path, typer.Argument(help="QA data (SQuAD/KorQuAD/TyDi JSON or JSONL).")],
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help="Tokenizer directory (or model).")],
    max_length: MaxLengthOpt = default(TrainConfig, "max_length"),
    stride: StrideOpt = default(TrainConfig, "stride"),
    show: Annotated[int, typer.Option(help="Differing answers to list (the table view).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Round-trip every gold answer through windows, labels and the decoder, and list what differs."""
    from ..loading import load_tokenizer
    from ..training.qa_features import roundtrip_check

    dataset = qa_dataset(file)
    metric = dataset.default_metric
    texts = (e.context for e in dataset.examples[:50])  # the default tokenizer follows the script
    loaded = load_tokenizer(tokenizer, texts=texts)
    result = roundtrip_check(loaded, dataset.examples, max_length, stride, metric=metric)
    if as_json:
        emit_json({"file": str(file), "tokenizer": tokenizer, "metric": metric} | result)
        return
    out.print(exact_table(result, Text(f"{file.name} with {tokenizer}")))
    if "metric_exact" in result:
        out.print(
            f"equal under the {metric} metric: {result['metric_exact']} of {result['total']}", markup=False
        )
    differ = result["differ"]
    if differ and show > 0:
        out.print(differ_table(differ, show))


def exact_table(result: dict[str, Any], title: Text) -> Table:
    """How many gold answers come back exactly: of all, and of those on token boundaries."""
    table = new_table("answers", "total", "exact", "%", left=("answers",), title=title)
    rows = [("all", result["total"], result["exact"])]
    rows.append(("on token boundaries", result["token_boundary_total"], result["token_boundary_exact"]))
    for label, total, exact in rows:
        table.add_row(label, str(total), str(exact), f"{100 * exact / total:.2f}" if total else "-")
    return table


def differ_table(differ: list[dict[str, Any]], show: int) -> Table:
    """The first `show` answers that differ: id, gold, decoded, and why."""
    title = f"{len(differ)} answers differ" + (f" (first {show})" if len(differ) > show else "")
    table = new_table(
        "id", "gold", "decoded", "reason", left=("id", "gold", "decoded", "reason"), title=title
    )
    for case in differ[:show]:
        table.add_row(Text(case["id"]), Text(case["gold"]), Text(case["got"] or "-"), Text(case["reason"]))
    return table
