"""Corpora as streams of texts, never loaded whole: for tokenizer training and masked-LM pre-training.

Four formats: plain text (a document per line), blocks (documents separated by blank lines, e.g. source
code), JSONL (a `text` field) and SQuAD-format JSON (contexts and questions; the one JSON document is walked
article by article, so only one article is held at a time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, InputError
from .files import iter_lines, squad_articles
from .squad_format import squad_field, squad_paragraphs

FORMATS = ("auto", "text", "blocks", "jsonl", "squad")


def corpus_format(path: Path, fmt: str = "auto") -> str:
    """The format of a corpus file: `fmt` itself, or for `auto` guessed from the suffix.

    >>> corpus_format(Path("reviews.jsonl")), corpus_format(Path("train.json")), corpus_format(Path("a.txt"))
    ('jsonl', 'squad', 'text')
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown corpus format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "squad"
    return "text"


def read_texts(path: str | Path, fmt: str = "auto", field: str = "text") -> Iterator[str]:
    """Stream the texts of one corpus file (empty texts skipped).

    Args:
        path: the file.
        fmt: `auto` (by suffix: .jsonl/.ndjson → jsonl, .json → squad, else text), `text` (a document per
            line), `blocks` (documents separated by blank lines, newlines kept), `jsonl` or `squad`.
        field: the JSONL field holding the text.
    """
    path = Path(path)
    kind = corpus_format(path, fmt)
    if kind == "text":
        return (line.rstrip("\r\n") for line in iter_lines(path) if line.strip())
    if kind == "blocks":
        return _blocks(path)
    if kind == "jsonl":
        return _jsonl(path, field)
    return _squad_texts(path)


def _blocks(path: Path) -> Iterator[str]:
    block: list[str] = []
    for line in iter_lines(path):
        if line.strip():
            block.append(line)
        elif block:
            yield "".join(block).rstrip("\r\n")
            block = []
    if block:
        yield "".join(block).rstrip("\r\n")


def _jsonl(path: Path, field: str) -> Iterator[str]:
    for number, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {number} is not JSON: {e.msg}") from None
        if not isinstance(record, dict) or field not in record:
            raise DataError(f"{path} line {number} has no field {field!r} (choose one with --field)")
        text = record[field]
        if not isinstance(text, str):
            raise DataError(f"{path} line {number}: field {field!r} is not a string")
        if text.strip():
            yield text


def _squad_texts(path: Path) -> Iterator[str]:
    """Each paragraph's context, then its questions."""
    for paragraph in squad_paragraphs(squad_articles(path), str(path)):
        if paragraph.context.strip():
            yield paragraph.context
        for where, qa in paragraph.questions():
            question = squad_field(qa, "question", str, str(path), where)
            if question.strip():
                yield question


@dataclass
class CorpusStats:
    """What streamed past: texts, characters and the distinct characters (the alphabet)."""

    texts: int = 0
    chars: int = 0
    alphabet: set[str] = field(default_factory=set)


def iter_batches(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    field: str = "text",
    batch_size: int = 1000,
    stats: CorpusStats | None = None,
) -> Iterator[list[str]]:
    """Stream the texts of several corpus files as lists of `batch_size` texts, counting into `stats`."""
    batch: list[str] = []
    for path in paths:
        for text in read_texts(path, fmt, field):
            if stats is not None:
                stats.texts += 1
                stats.chars += len(text)
                stats.alphabet.update(text)
            batch.append(text)
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def nonempty_batches(batches: Iterator[list[str]], shown: str) -> Iterator[list[str]]:
    """The same batches, after checking there is a first one (so an empty corpus fails before training)."""
    first = next(batches, None)
    if first is None:
        raise InputError(f"empty corpus: {shown} holds no text")
    yield first
    yield from batches
