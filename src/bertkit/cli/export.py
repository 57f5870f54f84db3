"""`bertkit export`: a model (the embedded default included, merged) as a plain transformers directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._util import ModelOpt, err


def export(
    output: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Directory to write (must not exist).")],
    model: ModelOpt = None,
    task: Annotated[str, typer.Option(help="Which head: qa, or base (the encoder alone).")] = "qa",
) -> None:
    """Write a model (the default included, merged) as a plain transformers directory."""
    from ..files import check_writable
    from ..loading import export_model, load

    check_writable(output, "dir")  # before the model loads
    export_model(load(model, task=task), output)
    err.print(f"wrote {output}: loads with transformers' from_pretrained and with bertkit --model {output}")
