"""QA predictions files, read and written: `{id: answer}` JSON (the official SQuAD format), or the JSONL
that `bertkit qa-batch` writes (one `{id, answers: [{answer, ...}, ...]}` per line; its first answer counts;
an `{id, error}` record, for a row `--skip-invalid` left unanswered, is no prediction).

    {"56be4db0acb8001400a502ec": "Denver Broncos", ...}                       official JSON
    {"id": "56be4db0acb8001400a502ec", "answers": [{"answer": "Denver Broncos", ...}]}   qa-batch JSONL
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..files import read_text, write_file_or_rescue


def read_predictions(path: str | Path) -> dict[str, str]:
    """`{id: answer}` from the official JSON format, or from `bertkit qa-batch` JSONL (its first answer;
    none: the empty answer). A file in neither format is a `DataError` naming the first bad line; so is a
    file without a single prediction (scoring it would give 0.00 as if a model had answered badly)."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict) and not _is_qa_batch_record(value):
        predictions = value
    else:
        predictions = _qa_batch_predictions(path, text)
    if not predictions:
        raise DataError(f"{path}: no predictions in it (an empty file or object): nothing to score")
    return predictions


def _is_qa_batch_record(value: dict[str, Any]) -> bool:
    """A qa-batch file of one line is a JSON object too: `{"id", "answers"}` or `{"id", "error"}`."""
    return "id" in value and ("answers" in value or "error" in value)


def _qa_batch_predictions(path: str | Path, text: str) -> dict[str, str]:
    predictions = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if "error" in record and "answers" not in record:
                continue  # a row qa-batch could not answer: no prediction
            answers = record["answers"]
            predictions[str(record["id"])] = answers[0]["answer"] if answers else ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise DataError(
                f"{path}: line {number} is not a qa-batch record {{id, answers: [{{answer, ...}}]}}; "
                "predictions must be a JSON object {id: answer} or qa-batch JSONL"
            ) from None
    return predictions


def write_predictions(path: str | Path, predictions: dict[str, Any]) -> Path:
    """Write `{id: answer}` as the official JSON format, atomically (the file is whole or absent). Should that
    fail at the end of a run, the predictions go to a temporary file, named by the `OutputError`."""
    return write_file_or_rescue(
        path, lambda f: json.dump(predictions, f, ensure_ascii=False, indent=1), what="predictions"
    )
