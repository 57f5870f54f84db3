"""Extractive-QA examples, loaded and checked: SQuAD v1.1/v2.0, KorQuAD 1.0 and TyDi QA GoldP JSON, JSONL.

Formats read by ``load_qa_file``:

- SQuAD JSON: ``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``. SQuAD v2.0 (``"version": "v2.0"``),
  KorQuAD 1.0 (``"version": "KorQuAD_v1.0_dev"``) and TyDi QA GoldP (no ``"version"``) share this shape.
- Flat records, Hugging Face ``datasets`` style: ``{"id", "question", "context", "answers": {"text": [...],
  "answer_start": [...]}, "title"?}``, one per line (JSON Lines), or as a JSON list, or under ``"data"``.

What happens to a problem depends on whose it is:

- the file's (not JSON, wrong types, missing keys, duplicate ids): ``DataError``, always;
- one example's (an answer not at its ``answer_start``, ``answer_start`` out of range, an empty answer,
  question or context, answers that contradict ``is_impossible``): ``DataError`` with ``strict=True``;
  otherwise the whole example is skipped, recorded in ``QADataset.skipped`` as ``(id, reason)``, and a
  warning gives the count. Skipping the example rather than only its bad answer keeps evaluation honest: a
  question scored against fewer gold answers than its file lists would score lower than it should.

Every ``DataError`` is one line naming the file, where in it, and the example id when it has one::

    data/dev.json: data[0].paragraphs[2].qas[1] (id '5733be28'): answer 0 'Notre Dame' is not at
    answer_start 12 (context there: 'Saint Mary')
"""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bertkit.errors import DataError

_JSON_LINES_SUFFIXES = (".jsonl", ".jsonlines", ".ndjson")


@dataclass(frozen=True)
class Answer:
    """A gold answer: ``context[start:start + len(text)] == text`` (Python string indices).

    Args:
        text: the answer text.
        start: index of its first character in the example's context.
    """

    text: str
    start: int

    @property
    def end(self) -> int:
        """Index just past the answer: ``context[start:end] == text``."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """One question over one context, with its gold answers (none when ``is_impossible``).

    Args:
        id: the question id, unique in its dataset.
        question: the question text.
        context: the paragraph the answers are spans of (shared, not copied, between its questions).
        answers: the gold answers, in file order; an answerable question has at least one.
        is_impossible: True for a SQuAD v2.0-style question with no answer in the context.
        title: the article title ("" when the format has none).
    """

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    is_impossible: bool = False
    title: str = ""


@dataclass
class QADataset:
    """The examples of one file (or Hub split) that passed validation, and those that did not.

    Args:
        examples: the valid examples, in file order.
        version: the file's ``"version"`` ("1.1", "v2.0", "KorQuAD_v1.0_dev", ...), ``None`` when it has none.
        skipped: ``(id, reason)`` of each example left out because of a problem in its content.
        path: where the examples came from (a file path, or ``hub:<name>[<split>]``).
    """

    examples: list[QAExample]
    version: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    path: str = ""

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[QAExample]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> QAExample:
        return self.examples[index]

    @property
    def default_metric(self) -> str:
        """The official metric for this data: "korquad", "squad_v2" (v2.0 or any unanswerable) or "squad"."""
        version = (self.version or "").lower()
        if "korquad" in version:
            return "korquad"
        if version in {"v2.0", "2.0"} or any(example.is_impossible for example in self.examples):
            return "squad_v2"
        return "squad"

    def gold_answers(self) -> dict[str, list[str]]:
        """Question id → gold answer texts (empty for unanswerable), the ``golds`` of ``evaluate_predictions``."""
        return {example.id: [answer.text for answer in example.answers] for example in self.examples}


def load_qa_file(path: str | Path, *, strict: bool = False) -> QADataset:
    """Load and validate a SQuAD / KorQuAD / TyDi QA GoldP JSON file or a JSON Lines file of flat records.

    Args:
        path: the file. ``.jsonl``/``.jsonlines``/``.ndjson`` are read as JSON Lines; any other name as JSON,
            falling back to JSON Lines when the text is several JSON objects, one per line.
        strict: raise ``DataError`` on the first example with a content problem instead of skipping it.

    Returns:
        The dataset; ``skipped`` lists what was left out and why.
    """
    path = Path(path)
    builder = _DatasetBuilder(str(path), strict)
    if path.suffix.lower() in _JSON_LINES_SUFFIXES:
        with _open_text(path) as file:
            builder.add_records(_parse_json_lines(file, str(path)))
        return builder.finish(version=None)

    with _open_text(path) as file:
        text = _read_all(file, path)
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
            f"or JSON Lines; got {_json_type(document)}"
            + ("" if not isinstance(document, dict) else f" with keys {sorted(document)[:5]}")
        )
    version = document.get("version")
    if version is not None and not isinstance(version, str):
        raise DataError(f"{path}: 'version' must be a string, got {_json_type(version)}")
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


def buried(
    dataset: QADataset,
    *,
    others: int | None = None,
    words: tuple[int, int] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> QADataset:
    """Long-context versions of a dataset's questions: each context buried among other contexts.

    Each question's own paragraph is placed at a random position among `others` other paragraphs of the
    dataset (or as many as needed to reach a random length in `words`), joined by blank lines; the gold
    answers move with it. It measures whether long documents cost accuracy.

    >>> ds = QADataset([QAExample("q", "Who?", "Ann came.", (Answer("Ann", 0),)),
    ...                 QAExample("r", "What?", "Rain fell.", (Answer("Rain", 0),))])
    >>> long = buried(ds, others=1, seed=1)
    >>> [(e.context, e.answers[0].start) for e in long.examples][0]
    ('Rain fell.\\n\\nAnn came.', 12)
    """
    if (others is None) == (words is None):
        raise ValueError("give exactly one of others and words")
    rng = random.Random(seed)
    paragraphs = list(dict.fromkeys(e.context for e in dataset.examples))
    chosen = (
        dataset.examples if limit is None else rng.sample(dataset.examples, min(limit, len(dataset.examples)))
    )
    out = []
    for example in chosen:
        pool = [p for p in rng.sample(paragraphs, len(paragraphs)) if p != example.context]
        if others is not None:
            parts = pool[:others]
        else:
            assert words is not None
            target, parts, count = rng.randint(words[0], words[1]), [], len(example.context.split())
            while count < target and pool:
                parts.append(pool.pop())
                count += len(parts[-1].split())
        where = rng.randint(0, len(parts))
        parts.insert(where, example.context)
        shift = sum(len(p) + 2 for p in parts[:where])
        answers = tuple(Answer(a.text, a.start + shift) for a in example.answers)
        context = "\n\n".join(parts)
        out.append(dataclasses.replace(example, context=context, answers=answers))
    return QADataset(out, version=dataset.version, path=f"{dataset.path} (buried)")


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
    builder = _DatasetBuilder(source, strict)
    builder.add_records((f"row {index}", row) for index, row in enumerate(rows))
    return builder.finish(version=f"hub:{name}")


class _DatasetBuilder:
    """Turns raw records into QAExamples: type checks, duplicate ids, and the skip-or-raise policy."""

    def __init__(self, source: str, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.examples: list[QAExample] = []
        self.skipped: list[tuple[str, str]] = []
        self._where_seen: dict[str, str] = {}

    def add_squad_articles(self, articles: list[Any]) -> None:
        """Add every question of SQuAD-shaped ``data`` (articles → paragraphs → qas)."""
        for article_index, article in enumerate(articles):
            where = f"data[{article_index}]"
            self._require(
                isinstance(article, dict), where, f"an article must be an object, got {_json_type(article)}"
            )
            title = self._field(article, "title", str, where, default="")
            paragraphs = self._field(article, "paragraphs", list, where)
            for paragraph_index, paragraph in enumerate(paragraphs):
                where = f"data[{article_index}].paragraphs[{paragraph_index}]"
                self._require(
                    isinstance(paragraph, dict),
                    where,
                    f"a paragraph must be an object, got {_json_type(paragraph)}",
                )
                context = self._field(paragraph, "context", str, where)
                for qa_index, qa in enumerate(self._field(paragraph, "qas", list, where)):
                    qa_where = f"{where}.qas[{qa_index}]"
                    self._require(
                        isinstance(qa, dict), qa_where, f"a qa must be an object, got {_json_type(qa)}"
                    )
                    self._add(qa_where, qa, context, title, self._squad_answers(qa, qa_where))

    def add_records(self, records: Iterable[tuple[str, Any]]) -> None:
        """Add flat records given as ``(where, record)``: Hugging Face ``datasets`` rows or JSON Lines."""
        for where, record in records:
            self._require(
                isinstance(record, dict), where, f"a record must be an object, got {_json_type(record)}"
            )
            context = self._field(record, "context", str, where, record)
            title = self._field(record, "title", str, where, record, default="")
            self._add(where, record, context, title, self._record_answers(record, where))

    def finish(self, version: str | None) -> QADataset:
        """The dataset; warns (never silently) when examples were skipped."""
        if self.skipped:
            total = len(self.skipped) + len(self.examples)
            first_id, first_reason = self.skipped[0]
            warnings.warn(
                f"{self.source}: skipped {len(self.skipped)} of {total} examples "
                f"(first: id {first_id!r}: {first_reason}); see QADataset.skipped",
                stacklevel=3,
            )
        return QADataset(examples=self.examples, version=version, skipped=self.skipped, path=self.source)

    def _add(self, where: str, qa: dict[str, Any], context: str, title: str, answers: list[Answer]) -> None:
        if "id" not in qa:
            self._fail(where, None, "missing 'id'")
        raw_id = qa["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            self._fail(where, None, f"'id' must be a string, got {_json_type(raw_id)}")
        example_id = str(raw_id)
        if example_id in self._where_seen:
            self._fail(where, example_id, f"duplicate id (first at {self._where_seen[example_id]})")
        self._where_seen[example_id] = where
        question = self._field(qa, "question", str, where, qa)
        is_impossible = self._field(qa, "is_impossible", bool, where, qa, default=None)

        problem = _content_problem(question, context, answers, is_impossible)
        if problem is not None:
            if self.strict:
                self._fail(where, example_id, problem)
            self.skipped.append((example_id, problem))
            return
        self.examples.append(
            QAExample(
                id=example_id,
                question=question,
                context=context,
                answers=tuple(answers),
                is_impossible=not answers,
                title=title,
            )
        )

    def _squad_answers(self, qa: dict[str, Any], where: str) -> list[Answer]:
        answers = self._field(qa, "answers", list, where, qa)
        return [self._answer(answer, f"{where}.answers[{index}]", qa) for index, answer in enumerate(answers)]

    def _record_answers(self, record: dict[str, Any], where: str) -> list[Answer]:
        self._require("answers" in record, where, "missing 'answers'", record)
        answers = record["answers"]
        if isinstance(answers, list):  # SQuAD-style list of {text, answer_start}
            return [
                self._answer(answer, f"{where}.answers[{index}]", record)
                for index, answer in enumerate(answers)
            ]
        self._require(
            isinstance(answers, dict),
            where,
            f"'answers' must be an object {{text: [...], answer_start: [...]}}, got {_json_type(answers)}",
            record,
        )
        texts = self._field(answers, "text", list, f"{where}.answers", record)
        starts = self._field(answers, "answer_start", list, f"{where}.answers", record)
        self._require(
            len(texts) == len(starts),
            where,
            f"answers has {len(texts)} 'text' but {len(starts)} 'answer_start'",
            record,
        )
        return [
            self._answer({"text": text, "answer_start": start}, f"{where}.answers[{index}]", record)
            for index, (text, start) in enumerate(zip(texts, starts, strict=True))
        ]

    def _answer(self, answer: Any, where: str, qa: dict[str, Any]) -> Answer:
        self._require(
            isinstance(answer, dict), where, f"an answer must be an object, got {_json_type(answer)}", qa
        )
        text = self._field(answer, "text", str, where, qa)
        start = self._field(answer, "answer_start", int, where, qa)
        return Answer(text=text, start=start)

    def _field(
        self,
        obj: dict[str, Any],
        key: str,
        kind: type,
        where: str,
        qa: dict[str, Any] | None = None,
        default: Any = ...,
    ) -> Any:
        """``obj[key]``, checked to be of JSON type ``kind`` (``default`` when absent, if given)."""
        if key not in obj:
            self._require(default is not ..., where, f"missing '{key}'", qa)
            return default
        value = obj[key]
        wrong_bool = isinstance(value, bool) and kind is not bool  # bool is an int to Python, not to JSON
        self._require(
            isinstance(value, kind) and not wrong_bool,
            where,
            f"'{key}' must be {_JSON_TYPE_NAMES[kind]}, got {_json_type(value)}",
            qa,
        )
        return value

    def _require(self, condition: bool, where: str, message: str, qa: dict[str, Any] | None = None) -> None:
        if not condition:
            example_id = qa.get("id") if isinstance(qa, dict) else None
            self._fail(where, None if example_id is None else str(example_id), message)

    def _fail(self, where: str, example_id: str | None, message: str) -> None:
        id_part = "" if example_id is None else f" (id {example_id!r})"
        raise DataError(f"{self.source}: {where}{id_part}: {message}")


def _content_problem(
    question: str, context: str, answers: list[Answer], is_impossible: bool | None
) -> str | None:
    """Why this example cannot be used as given, or None when it can.

    Example: context "Paris is in France." with answer ("France", 12) is fine: context[12:18] == "France".
    With ("France", 11) it is not: context[11:17] == " Franc".
    """
    if not question.strip():
        return "empty question"
    if not context.strip():
        return "empty context"
    if is_impossible and answers:
        return f"is_impossible is true but it has {len(answers)} answer(s)"
    if is_impossible is False and not answers:
        return "no answers, and is_impossible is false"
    for index, answer in enumerate(answers):
        if not answer.text:
            return f"answer {index} is empty"
        if not 0 <= answer.start < len(context):
            return f"answer {index} answer_start {answer.start} is out of range (context has {len(context)} characters)"
        found = context[answer.start : answer.end]
        if found != answer.text:
            return (
                f"answer {index} {_excerpt(answer.text)} is not at answer_start {answer.start} "
                f"(context there: {_excerpt(found)})"
            )
    return None


def _parse_json_lines(lines: Iterable[str], source: str) -> Iterator[tuple[str, Any]]:
    """``(f"line {n}", record)`` for each non-blank line; a line that is not JSON raises with its number."""
    line_number = 0
    try:
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
    except UnicodeDecodeError as err:
        raise DataError(f"{source}: line {line_number + 1}: not UTF-8 text ({err.reason})") from None


def _first_line_is_json_object(text: str) -> bool:
    first_line = next((line for line in text.split("\n") if line.strip()), "")
    try:
        return isinstance(json.loads(first_line), dict)
    except json.JSONDecodeError:
        return False


def _open_text(path: Path) -> TextIO:
    """Open as UTF-8 (a byte-order mark is allowed); a missing or unreadable file is a DataError."""
    try:
        return path.open(encoding="utf-8-sig")
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or type(err).__name__})") from err


def _read_all(file: TextIO, path: Path) -> str:
    try:
        return file.read()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None


_JSON_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    list: "a list",
    dict: "an object",
    bool: "true or false",
}


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _excerpt(text: str, limit: int = 40) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters: one line, whatever the text holds."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
