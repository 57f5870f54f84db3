"""The rows of a batch-QA input, read and checked one by one: JSONL `{id, question, context}` (streamed) or
SQuAD-format JSON (streamed article by article) → `Row`s, each valid or carrying why it is not.

A problem in one row is that row's (`Row.problem`), so every bad row can be named before any work and the
others answered (`qa-batch --skip-invalid`); a problem with the whole file (not UTF-8, not SQuAD-shaped) is a
`DataError` at once. What makes a row bad:

    line 3 (id q3): 'question' is a int, not a string        a field missing, of another type, or empty
    line 4 (id q4): 'context' is not Unicode text (a lone surrogate '\\ud800' at character 7)
    line 5: not valid JSON (Expecting value)                  (JSON's "\\ud800" escape parses to such a str)
    line 6 (id q1): duplicate id (first at line 1)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..files import iter_lines, require_file, squad_articles
from ..squad_format import squad_paragraphs

Question = tuple[str, str, str]  # (id, question, context)


@dataclass(frozen=True)
class Row:
    """One row of the input: a question to answer, or why it cannot be.

    Args:
        where: its place in the file: "line 3", or "data[0].paragraphs[1].qas[2]" in SQuAD format.
        id: its id as a string, None when it has no usable one.
        question, context: the texts ("" when the row is bad).
        problem: why the row cannot be answered, None when it can.
    """

    where: str
    id: str | None
    question: str = ""
    context: str = ""
    problem: str | None = None

    @property
    def label(self) -> str:
        """`line 3 (id q3)`: where the row is, and its id when it has one."""
        return self.where if self.id is None else f"{self.where} (id {self.id})"

    def described_problem(self) -> str:
        """`line 3 (id q3): 'question' is empty`."""
        return f"{self.label}: {self.problem}"


def iter_rows(path: str | Path) -> Iterator[Row]:
    """Every row of a JSONL file, or every question of a SQuAD-format JSON file, checked; blank lines are
    skipped. The format is told by the suffix (.json), else by the first line (a pretty-printed SQuAD file
    starts with a lone "{")."""
    path = require_file(path, "input file")
    if path.suffix == ".json" or _first_line(path) in ("{", '{"version"', '{"data"'):
        yield from _squad_rows(path)
    else:
        yield from _jsonl_rows(path)


def iter_questions(path: str | Path) -> Iterator[Question]:
    """Yield `(id, question, context)` from a JSONL or SQuAD-format JSON file; the first bad row is a
    `DataError` that names the file, the line (or place) and the id."""
    for row in iter_rows(path):
        if row.problem is not None:
            raise DataError(f"{path} {row.described_problem()}")
        yield row.id or "", row.question, row.context


def _first_line(path: Path) -> str:
    """The start of the first non-blank line, enough to tell a pretty-printed SQuAD file from JSONL."""
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                return line.strip()[:10].decode("utf-8", "replace").split(":")[0]
    return ""


def _jsonl_rows(path: Path) -> Iterator[Row]:
    seen: dict[str, str] = {}
    for number, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield Row(where, None, problem=f"not valid JSON ({e.msg})")
            continue
        yield checked_row(value, where, seen)


def _squad_rows(path: Path) -> Iterator[Row]:
    """The questions of a SQuAD-format file, streamed article by article."""
    seen: dict[str, str] = {}
    for paragraph in squad_paragraphs(squad_articles(path), str(path)):
        for where, qa in paragraph.questions():
            yield checked_row(dict(qa, context=paragraph.context), where, seen)


def checked_row(value: Any, where: str, seen: dict[str, str]) -> Row:
    """The row that the parsed JSON `value` at `where` makes (`seen`: id → where, of the rows before).

    >>> checked_row({"id": 7, "question": "Who?", "context": "Ann."}, "line 1", {})
    Row(where='line 1', id='7', question='Who?', context='Ann.', problem=None)
    >>> checked_row({"id": "a", "question": "\\ud800?", "context": "Ann."}, "line 2", {}).problem
    "'question' is not Unicode text (a lone surrogate '\\\\ud800' at character 0)"
    """
    if not isinstance(value, dict):
        return Row(where, None, problem=f"expected a JSON object, got {type(value).__name__}")
    qid = value.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        return Row(where, None, problem="'id' must be a non-empty string")
    if (problem := _not_unicode(qid)) is not None:
        return Row(where, None, problem=f"'id' {problem}")
    for key in ("question", "context"):
        if (problem := _text_problem(value.get(key))) is not None:
            return Row(where, qid, problem=f"'{key}' {problem}")
    if qid in seen:
        return Row(where, qid, problem=f"duplicate id (first at {seen[qid]})")
    seen[qid] = where
    return Row(where, qid, value["question"], value["context"])


def _text_problem(value: Any) -> str | None:
    """Why a question or context cannot be answered from, None when it can."""
    if not isinstance(value, str):
        return "is missing" if value is None else f"is a {type(value).__name__}, not a string"
    if not value.strip():
        return "is empty"
    return _not_unicode(value)


def _not_unicode(text: str) -> str | None:
    """A str that UTF-8 cannot encode holds a lone surrogate (JSON's "\\ud800" escape gives one): say where."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"is not Unicode text (a lone surrogate {text[e.start]!r} at character {e.start})"
    return None
