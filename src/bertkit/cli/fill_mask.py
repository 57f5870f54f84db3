"""`bertkit fill-mask`: the tokens behind mask tokens, scored and shaped as transformers' pipeline."""

from __future__ import annotations

from typing import Annotated

import typer

from ._util import DtypeOpt, JsonOpt, ModelOpt, emit_json, new_table, out, show_notes


def fill_mask(
    text: Annotated[
        str, typer.Argument(help="Text with the model's mask token ([MASK] for BERT, <mask> for RoBERTa).")
    ],
    model: ModelOpt = None,
    top_k: Annotated[int, typer.Option(help="Candidates per mask.")] = 5,
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Predict the tokens behind mask tokens (scored and shaped as transformers' fill-mask pipeline)."""
    from ..tasks.fill_mask import FillMask, pipeline_shape

    filler = FillMask(model, dtype=dtype)
    fills = filler.fill_many([text], top_k=top_k)[0]
    show_notes(filler.notes)
    if as_json:  # one list for one mask, one list per mask for several: as the pipeline returns them
        emit_json(pipeline_shape([[f.to_dict() for f in row] for row in fills]))  # type: ignore[misc]
        return
    for number, row in enumerate(fills, 1):
        title = f"mask {number} of {len(fills)}" if len(fills) > 1 else None
        table = new_table("#", "token", "score", "sequence", left=("token", "sequence"), title=title)
        for rank, f in enumerate(row, 1):
            table.add_row(str(rank), f.token_str, f"{f.score:.4f}", f.sequence)
        out.print(table)
