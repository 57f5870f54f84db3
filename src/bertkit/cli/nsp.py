"""`bertkit nsp`: how likely sentence B follows sentence A, or candidates for B ranked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._util import DtypeOpt, JsonOpt, ModelOpt, emit_json, exactly_one, new_table, out, show_notes, text_lines


def nsp(
    first: Annotated[str, typer.Argument(metavar="A", help="The first sentence.")],
    second: Annotated[
        str | None, typer.Argument(metavar="[B]", help="The sentence that may follow A.")
    ] = None,
    candidates: Annotated[
        Path | None, typer.Option("--candidates", help="UTF-8 file of candidates for B, one per line.")
    ] = None,
    candidates_json: Annotated[
        str | None,
        typer.Option("--candidates-json", help='Candidates for B as a JSON list: \'["..", ".."]\'.'),
    ] = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Next-sentence prediction: how likely B follows A (IsNext), or candidates for B ranked."""
    from ..tasks.nsp import NextSentencePredictor

    exactly_one(("B", second), ("--candidates", candidates), ("--candidates-json", candidates_json))
    texts = [second] if second is not None else parse_candidates(candidates, candidates_json)
    predictor = NextSentencePredictor(model, dtype=dtype)
    ranked = predictor.rank(first, texts)
    show_notes(predictor.notes)
    if as_json:
        emit_json([r.to_dict() for r in ranked])
        return
    table = new_table("#", "is_next", "B", left=("B",))
    for rank, r in enumerate(ranked, 1):
        table.add_row(str(rank), f"{r.is_next:.4f}", r.text)
    out.print(table)


def parse_candidates(path: Path | None, as_json: str | None) -> list[str]:
    """Candidate sentences from a file (one per line, blank lines skipped) or a JSON list of strings."""
    if path is not None:
        candidates = text_lines(path, strip=True)
        if not candidates:
            raise InputError(f"{path} holds no candidate sentences (one per line)")
        return candidates
    try:
        candidates = json.loads(as_json or "")
    except json.JSONDecodeError as e:
        raise InputError(f"--candidates-json is not valid JSON: {e.msg} (at character {e.pos})") from None
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        raise InputError('--candidates-json must be a JSON list of strings, e.g. \'["It rained.", "Cats."]\'')
    if not candidates:
        raise InputError("--candidates-json is an empty list: give at least one candidate")
    return candidates
