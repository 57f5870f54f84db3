"""QA predictions files, read and written: `{id: answer}` JSON (the official SQuAD format), or the JSONL
that `bertkit qa-batch` writes (one `{id, answers: [{answer, ...}, ...]}` per line; its first answer counts).

    {"56be4db0acb8001400a502ec": "Denver Broncos", ...}                       official JSON
    {"id": "56be4db0acb8001400a502ec", "answers": [{"answer": "Denver Broncos", ...}]}   qa-batch JSONL
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError, OutputError
from ..files import read_text, write_json_atomically


def read_predictions(path: str | Path) -> dict[str, str]:
    """`{id: answer}` from the official JSON format, or from `bertkit qa-batch` JSONL (its first answer;
    none: the empty answer). A file in neither format is a `DataError` naming the first bad line."""
    text = read_text(path)
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


def write_predictions(path: str | Path, predictions: dict[str, Any]) -> Path:
    """Write `{id: answer}` as the official JSON format, atomically (the file is whole or absent)."""
    try:
        return write_json_atomically(path, predictions, indent=1)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
