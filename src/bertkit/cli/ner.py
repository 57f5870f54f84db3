"""`bertkit ner`: named entities with character offsets, in a text of any length."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..tasks.ner import NEROptions
from ._util import (
    DecodingOpt,
    DtypeOpt,
    JsonOpt,
    ModelMaxLengthOpt,
    ModelOpt,
    PlotOpt,
    default,
    emit_json,
    new_table,
    out,
    save_plot,
    show_notes,
)


def ner(
    text: Annotated[str, typer.Argument(help="Text to tag (any length: long texts go through windows).")],
    aggregation: Annotated[
        str, typer.Option(help="none (one result per token), simple, first, average or max.")
    ] = default(NEROptions, "aggregation"),
    decoding: DecodingOpt = default(NEROptions, "decoding"),
    types: Annotated[
        str | None,
        typer.Option(help="Tag only these entity types, comma-separated (e.g. PS,LC,OG); default: all."),
    ] = None,
    model: ModelOpt = None,
    max_length: ModelMaxLengthOpt = default(NEROptions, "max_length"),
    stride: Annotated[
        int | None, typer.Option(help="Tokens shared by consecutive windows (default 128).")
    ] = default(NEROptions, "stride"),
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Named entities with character offsets (token classification)."""
    from rich.text import Text

    from ..tasks.ner import EntityTagger

    options = NEROptions(
        aggregation=aggregation,
        decoding=decoding,
        entity_types=None if types is None else tuple(t.strip() for t in types.split(",") if t.strip()),
        max_length=max_length,
        stride=stride,
    )
    tagger = EntityTagger(model, dtype=dtype)
    entities = tagger(text, options)
    show_notes(tagger.notes)
    if plot is not None:
        save_plot(lambda viz: viz.entities_figure(text, [e.to_dict() for e in entities]), plot)
    if as_json:
        emit_json([e.to_dict() for e in entities])
        return
    columns = ("entity", "word", "start", "end", "score") + (("token",) if aggregation == "none" else ())
    table = new_table(*columns, left=("entity", "word"))
    for e in entities:
        cells: list[Any] = [Text(e.label), Text(e.word), str(e.start), str(e.end), f"{e.score:.4f}"]
        table.add_row(*cells, *([str(e.index)] if e.index is not None else []))
    out.print(table)
