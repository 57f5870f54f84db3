"""Batch QA over files: JSONL or SQuAD-format JSON in, JSONL out, streamed, resumable, written atomically.

Output lines are `{"id": ..., "answers": [{"answer", "start", "end", "score"}, ...]}`, one per question, in
input order. While running, lines go to `OUTPUT.partial` (flushed after every chunk); the finished file is
renamed into place, so OUTPUT is never half-written. Re-running after an interruption skips the ids
already in `OUTPUT.partial`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..files import iter_lines, move_into_place, require_file, squad_articles
from ..squad_format import squad_paragraphs
from .qa import QAOptions, QuestionAnswerer

Question = tuple[str, str, str]  # (id, question, context)


def iter_questions(path: str | Path) -> Iterator[Question]:
    """Yield `(id, question, context)` from a JSONL file (streamed) or a SQuAD-format JSON file.

    JSONL lines are objects `{"id", "question", "context"}`; blank lines are skipped. Errors name the
    file and the line or question id.
    """
    path = require_file(path, "input file")
    if path.suffix == ".json" or _first_line(path) in ("{", '{"version"', '{"data"'):
        yield from _squad_questions(path)
    else:
        yield from _jsonl_questions(path)


def _first_line(path: Path) -> str:
    """The start of the first non-blank line, enough to tell a pretty-printed SQuAD file from JSONL."""
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                return line.strip()[:10].decode("utf-8", "replace").split(":")[0]
    return ""


def count_questions(path: str | Path) -> int | None:
    """Questions in a JSONL file (a cheap line count), or None for other formats (and for a missing file,
    which `iter_questions` reports)."""
    path = Path(path)
    if path.suffix == ".json" or not path.is_file():
        return None
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _jsonl_questions(path: Path) -> Iterator[Question]:
    seen: set[str] = set()
    for number, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg})") from None
        yield _question(row, where, seen)


def _squad_questions(path: Path) -> Iterator[Question]:
    """The questions of a SQuAD-format file, streamed article by article."""
    seen: set[str] = set()
    for paragraph in squad_paragraphs(squad_articles(path), str(path)):
        for where, qa in paragraph.questions():
            yield _question(dict(qa, context=paragraph.context), f"{path} {where}", seen)


def _question(row: Any, where: str, seen: set[str]) -> Question:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    qid = row.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        raise DataError(f"{where}: 'id' must be a non-empty string")
    where = f"{where} (id {qid})"
    for key in ("question", "context"):
        value = row.get(key)
        if not isinstance(value, str):
            kind = "missing" if value is None else f"a {type(value).__name__}, not a string"
            raise DataError(f"{where}: '{key}' is {kind}")
        if not value.strip():
            raise DataError(f"{where}: '{key}' is empty")
    if qid in seen:
        raise DataError(f"{where}: duplicate id")
    seen.add(qid)
    return qid, row["question"], row["context"]


def answer_file(
    qa: QuestionAnswerer,
    input_path: str | Path,
    output_path: str | Path,
    options: QAOptions | None = None,
    *,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Answer every question of `input_path` into JSONL `output_path`; returns counts.

    Args:
        qa: the question answerer to use.
        options: how to answer (default `QAOptions()`).
        chunk_size: documents whose windows are batched together (bounds memory).
        on_progress: called with the number of questions finished since the last call.
    """
    output_path = Path(output_path)
    partial = output_path.with_name(output_path.name + ".partial")
    done = _done_ids(partial)
    if done and on_progress:
        on_progress(len(done))
    todo = (q for q in iter_questions(input_path) if q[0] not in done)
    written = 0
    with partial.open("a", encoding="utf-8") as out:
        chunk: list[Question] = []
        for question in todo:
            chunk.append(question)
            if len(chunk) == chunk_size:
                written += _write_chunk(qa, chunk, out, options, on_progress)
                chunk = []
        if chunk:
            written += _write_chunk(qa, chunk, out, options, on_progress)
    move_into_place(partial, output_path)
    return {"answered": written, "resumed": len(done)}


def _write_chunk(qa, chunk, out, options, on_progress) -> int:
    for qid, answers in qa.stream(chunk, options, chunk_size=len(chunk)):
        out.write(
            json.dumps({"id": qid, "answers": [a.to_dict() for a in answers]}, ensure_ascii=False) + "\n"
        )
    out.flush()
    os.fsync(out.fileno())
    if on_progress:
        on_progress(len(chunk))
    return len(chunk)


def _done_ids(partial: Path) -> set[str]:
    """Ids already answered in an interrupted run (a torn last line is dropped and rewritten)."""
    if not partial.exists():
        return set()
    done, good = set(), 0
    with partial.open("rb") as f:
        for line in f:
            try:
                done.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                break
            good += len(line)
    with partial.open("r+b") as f:
        f.truncate(good)
    return done
