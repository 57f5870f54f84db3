"""`bertkit tokenize`: what a tokenizer makes of a text (or a pair), window by window."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._util import (
    JsonOpt,
    ModelMaxLengthOpt,
    ModelOpt,
    PlotOpt,
    StrideOpt,
    emit_json,
    new_table,
    out,
    save_plot,
)

COLUMNS = ("#", "token", "id", "type", "mask", "offsets", "seq", "word")


def tokenize(
    text: Annotated[str, typer.Argument(help="Text to tokenize (the first sequence).")],
    pair: Annotated[
        str | None, typer.Option(help="Second sequence (e.g. the context of a question).")
    ] = None,
    model: ModelOpt = None,
    max_length: ModelMaxLengthOpt = None,
    stride: StrideOpt = 0,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Show tokens, ids, segment ids, offsets, sequence and word ids, per window."""
    from ..encoding import token_table
    from ..loading import load_tokenizer

    tokenizer = load_tokenizer(model, texts=(text, pair or ""))
    windows = token_table(tokenizer, text, pair, max_length=max_length, stride=stride)
    if plot is not None:
        save_plot(lambda viz: viz.tokens_figure(windows), plot)
    if as_json:
        emit_json(windows)
        return
    for number, window in enumerate(windows):
        title = f"window {number + 1} of {len(windows)}" if len(windows) > 1 else None
        table = new_table(*COLUMNS, left=("token",), title=title)
        for i in range(len(window["tokens"])):
            table.add_row(*token_row(window, i))
        out.print(table)


def token_row(window: dict[str, Any], i: int) -> list[str]:
    """The cells of token `i` of a window (see `COLUMNS`); "-" where a token has no such value."""
    start, end = window["offset_mapping"][i]
    types = window.get("token_type_ids")
    seq, word = window["sequence_ids"][i], window["word_ids"][i]
    return [
        str(i),
        window["tokens"][i],
        str(window["input_ids"][i]),
        "-" if types is None else str(types[i]),
        str(window["attention_mask"][i]),
        f"{start}-{end}",
        "-" if seq is None else str(seq),
        "-" if word is None else str(word),
    ]
