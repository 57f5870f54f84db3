"""Raw QA records → checked `QAExample`s: JSON types, duplicate ids, answers where they say they are.

What happens to a problem depends on whose it is:

- the file's (wrong types, missing keys, duplicate ids): ``DataError``, always;
- one example's (an answer not at its ``answer_start``, ``answer_start`` out of range, an empty answer,
  question or context, answers that contradict ``is_impossible``): ``DataError`` with ``strict=True``;
  otherwise the whole example is skipped, recorded in ``QADataset.skipped`` as ``(id, reason)``, and a
  warning gives the count. Skipping the example rather than only its bad answer keeps evaluation honest: a
  question scored against fewer gold answers than its file lists would score lower than it should.
- data that is only scored (``scoring_only=True``: evaluation) keeps a question whose answer is not at its
  ``answer_start``: the metrics compare answer texts and never read a position, so dropping it would score
  a subset. A warning counts these questions; their ``GoldAnswer.start`` is as the file gives it.

Every ``DataError`` is one line naming the file, where in it, and the example id when it has one::

    data/dev.json: data[0].paragraphs[2].qas[1] (id '5733be28'): answer 0 'Notre Dame' is not at
    answer_start 12 (context there: 'Saint Mary')
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from ..squad_format import field_problem, json_type, located_error, squad_paragraphs
from .qa_data import GoldAnswer, QADataset, QAExample


class DatasetBuilder:
    """Turns raw records into QAExamples: type checks, duplicate ids, and the skip-or-raise policy."""

    def __init__(self, source: str, strict: bool, scoring_only: bool = False) -> None:
        self.source = source
        self.strict = strict
        self.scoring_only = scoring_only
        self.examples: list[QAExample] = []
        self.skipped: list[tuple[str, str]] = []
        self.unlocated: list[tuple[str, str]] = []  # kept for scoring though an answer_start is wrong
        self._where_seen: dict[str, str] = {}

    def add_squad_articles(self, articles: Iterable[Any]) -> None:
        """Add every question of SQuAD-shaped ``data`` (articles → paragraphs → qas)."""
        for paragraph in squad_paragraphs(articles, self.source):
            for where, qa in paragraph.questions():
                self._add(where, qa, paragraph.context, paragraph.title, self._squad_answers(qa, where))

    def add_records(self, records: Iterable[tuple[str, Any]]) -> None:
        """Add flat records given as ``(where, record)``: Hugging Face ``datasets`` rows or JSON Lines."""
        for where, record in records:
            self._require(
                isinstance(record, dict), where, f"a record must be an object, got {json_type(record)}"
            )
            context = self._field(record, "context", str, where, record)
            title = self._field(record, "title", str, where, record, default="")
            self._add(where, record, context, title, self._record_answers(record, where))

    def finish(self, version: str | None) -> QADataset:
        """The dataset; warns (never silently) when examples were skipped, or kept with wrong positions."""
        if self.unlocated:
            first_id, first_reason = self.unlocated[0]
            warnings.warn(
                f"{self.source}: {len(self.unlocated)} questions have an answer_start that is wrong (first: id "
                f"{first_id!r}: {first_reason}); they are scored all the same, as the metrics use only the "
                "answer texts",
                stacklevel=3,
            )
        if self.skipped:
            total = len(self.skipped) + len(self.examples)
            first_id, first_reason = self.skipped[0]
            warnings.warn(
                f"{self.source}: skipped {len(self.skipped)} of {total} examples "
                f"(first: id {first_id!r}: {first_reason}); see QADataset.skipped",
                stacklevel=3,
            )
        return QADataset(examples=self.examples, version=version, skipped=self.skipped, path=self.source)

    def _add(
        self, where: str, qa: dict[str, Any], context: str, title: str, answers: list[GoldAnswer]
    ) -> None:
        if "id" not in qa:
            self._fail(where, None, "missing 'id'")
        raw_id = qa["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            self._fail(where, None, f"'id' must be a string, got {json_type(raw_id)}")
        example_id = str(raw_id)
        if example_id in self._where_seen:
            self._fail(where, example_id, f"duplicate id (first at {self._where_seen[example_id]})")
        self._where_seen[example_id] = where
        question = self._field(qa, "question", str, where, qa)
        is_impossible = self._field(qa, "is_impossible", bool, where, qa, default=None)

        problem = _content_problem(question, context, answers, is_impossible)
        misplaced = _position_problem(context, answers) if problem is None else None
        if misplaced is not None and self.scoring_only:
            self.unlocated.append((example_id, misplaced))
        elif misplaced is not None:
            problem = misplaced
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

    def _squad_answers(self, qa: dict[str, Any], where: str) -> list[GoldAnswer]:
        answers = self._field(qa, "answers", list, where, qa)
        return [self._answer(answer, f"{where}.answers[{index}]", qa) for index, answer in enumerate(answers)]

    def _record_answers(self, record: dict[str, Any], where: str) -> list[GoldAnswer]:
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
            f"'answers' must be an object {{text: [...], answer_start: [...]}}, got {json_type(answers)}",
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

    def _answer(self, answer: Any, where: str, qa: dict[str, Any]) -> GoldAnswer:
        self._require(
            isinstance(answer, dict), where, f"an answer must be an object, got {json_type(answer)}", qa
        )
        text = self._field(answer, "text", str, where, qa)
        start = self._field(answer, "answer_start", int, where, qa)
        return GoldAnswer(text=text, start=start)

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
        problem = field_problem(obj, key, kind, required=default is ...)
        if problem is not None:
            self._fail(where, _id_of(qa), problem)
        return obj.get(key, default)

    def _require(self, condition: bool, where: str, message: str, qa: dict[str, Any] | None = None) -> None:
        if not condition:
            self._fail(where, _id_of(qa), message)

    def _fail(self, where: str, example_id: str | None, message: str) -> None:
        raise located_error(self.source, where, message, example_id)


def _id_of(qa: dict[str, Any] | None) -> str | None:
    """The example id to name in a message, when the record has one."""
    example_id = qa.get("id") if isinstance(qa, dict) else None
    return None if example_id is None else str(example_id)


def _content_problem(
    question: str, context: str, answers: list[GoldAnswer], is_impossible: bool | None
) -> str | None:
    """Why this example cannot be used as given, whatever its answers' positions, or None when it can."""
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
    return None


def _position_problem(context: str, answers: list[GoldAnswer]) -> str | None:
    """Why an answer is not where its ``answer_start`` says (training labels need it), or None.

    Example: context "Paris is in France." with answer ("France", 12) is fine: context[12:18] == "France".
    With ("France", 11) it is not: context[11:17] == " Franc".
    """
    for index, answer in enumerate(answers):
        if not 0 <= answer.start < len(context):
            return f"answer {index} answer_start {answer.start} is out of range (context has {len(context)} characters)"
        found = context[answer.start : answer.end]
        if found != answer.text:
            return (
                f"answer {index} {_excerpt(answer.text)} is not at answer_start {answer.start} "
                f"(context there: {_excerpt(found)})"
            )
    return None


def _excerpt(text: str, limit: int = 40) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters: one line, whatever the text holds."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
