"""Extractive-QA data loaded and checked: from a file (SQuAD v1.1/v2.0, KorQuAD 1.0, TyDi QA GoldP JSON, JSON
Lines, a JSON list) or from a Hugging Face Hub split.

Formats read by ``load_qa_file``:

- SQuAD JSON: ``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``. SQuAD v2.0 (``"version": "v2.0"``),
  KorQuAD 1.0 (``"version": "KorQuAD_v1.0_dev"``) and TyDi QA GoldP (no ``"version"``) share this shape.
- Flat records, Hugging Face ``datasets`` style: ``{"id", "question", "context", "answers": {"text": [...],
  "answer_start": [...]}, "title"?}``, one per line (JSON Lines), or as a JSON list, or under ``"data"``.

Each record is checked by `qa_records.DatasetBuilder` (what is raised, what is skipped, and the messages).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..files import iter_lines, read_text
from ..squad_format import json_type
from .qa_data import QADataset
from .qa_records import DatasetBuilder

_JSON_LINES_SUFFIXES = (".jsonl", ".jsonlines", ".ndjson")


def load_qa_file(path: str | Path, *, strict: bool = False, scoring_only: bool = False) -> QADataset:
    """Load and validate a SQuAD / KorQuAD / TyDi QA GoldP JSON file or a JSON Lines file of flat records.

    Args:
        path: the file. ``.jsonl``/``.jsonlines``/``.ndjson`` are read as JSON Lines; any other name as JSON,
            falling back to JSON Lines when the text is several JSON objects, one per line.
        strict: raise ``DataError`` on the first example with a content problem instead of skipping it.
        scoring_only: the data will be scored, never used for training labels (evaluation): a question whose
            answer is not at its ``answer_start`` is kept (the metrics use only the answer texts), with a
            warning that counts them.

    Returns:
        The dataset; ``skipped`` lists what was left out and why.
    """
    path = Path(path)
    builder = DatasetBuilder(str(path), strict, scoring_only)
    if path.suffix.lower() in _JSON_LINES_SUFFIXES:
        builder.add_records(_parse_json_lines(iter_lines(path), str(path)))
        return builder.finish(version=None)

    text = read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" and _first_line_is_json_object(text):
            builder.add_records(_parse_json_lines(text.split("\n"), str(path)))
            return builder.finish(version=None)
        raise DataError(f"{path}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    del text

    if isinstance(document, list):
        builder.add_records((f"[{index}]", record) for index, record in enumerate(document))
        return builder.finish(version=None)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataError(
            f"{path}: expected a JSON object with a 'data' list (SQuAD format), a JSON list of records "
            f"or JSON Lines; got {json_type(document)}"
            + ("" if not isinstance(document, dict) else f" with keys {sorted(document)[:5]}")
        )
    version = document.get("version")
    if version is not None and not isinstance(version, str):
        raise DataError(f"{path}: 'version' must be a string, got {json_type(version)}")
    articles = document["data"]
    if (
        articles
        and isinstance(articles[0], dict)
        and "paragraphs" not in articles[0]
        and "question" in articles[0]
    ):
        builder.add_records((f"data[{index}]", record) for index, record in enumerate(articles))
    else:
        builder.add_squad_articles(articles)
    return builder.finish(version=version)


def load_hub_dataset(name: str, split: str, *, strict: bool = False) -> QADataset:
    """Load a SQuAD-style split from the Hugging Face Hub with the ``datasets`` library (online only).

    ``datasets`` is not a dependency of bertkit: install it to use this. Rows must have the flat record shape
    (``id``, ``question``, ``context``, ``answers: {text, answer_start}``, optional ``title``), as ``squad``,
    ``squad_v2`` and ``KorQuAD/squad_kor_v1`` do. They are validated as ``load_qa_file`` validates a file.

    Args:
        name: the Hub dataset id, e.g. ``"squad"`` or ``"KorQuAD/squad_kor_v1"``.
        split: e.g. ``"train"`` or ``"validation"``.
        strict: raise on the first example with a content problem instead of skipping it.

    Returns:
        The dataset, with ``path`` ``hub:<name>[<split>]`` and ``version`` ``hub:<name>`` (so a KorQuAD id
        gets the "korquad" ``default_metric``).
    """
    source = f"hub:{name}[{split}]"
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as err:
        raise DataError(
            f"{source}: loading from the Hugging Face Hub needs the 'datasets' package "
            "(pip install datasets); or download the data and use load_qa_file"
        ) from err
    try:
        rows = datasets.load_dataset(name, split=split)
    except Exception as err:  # datasets raises many types: ConnectionError, DatasetNotFoundError, ...
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise DataError(
            f"{source}: could not load it from the Hugging Face Hub ({type(err).__name__}: {reason}); "
            "offline? download the data and use load_qa_file"
        ) from err
    builder = DatasetBuilder(source, strict)
    builder.add_records((f"row {index}", row) for index, row in enumerate(rows))
    return builder.finish(version=f"hub:{name}")


def _parse_json_lines(lines: Iterable[str], source: str) -> Iterator[tuple[str, Any]]:
    """``(f"line {n}", record)`` for each non-blank line; a line that is not JSON raises with its number."""
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{source}: line {line_number}: not JSON (column {err.colno}: {err.msg})"
            ) from None
        yield f"line {line_number}", record


def _first_line_is_json_object(text: str) -> bool:
    first_line = next((line for line in text.split("\n") if line.strip()), "")
    try:
        return isinstance(json.loads(first_line), dict)
    except json.JSONDecodeError:
        return False
