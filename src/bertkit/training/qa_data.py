"""Extractive-QA examples: gold answers, examples, datasets; and `buried`, long-context versions of them.

Read them with `qa_loading.load_qa_file` (SQuAD v1.1/v2.0, KorQuAD 1.0, TyDi QA GoldP JSON, JSON Lines) or
`qa_loading.load_hub_dataset`. A gold answer is a span of its context in Python string indices:
``context[answer.start:answer.end] == answer.text``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GoldAnswer:
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
    answers: tuple[GoldAnswer, ...]
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

    >>> ds = QADataset([QAExample("q", "Who?", "Ann came.", (GoldAnswer("Ann", 0),)),
    ...                 QAExample("r", "What?", "Rain fell.", (GoldAnswer("Rain", 0),))])
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
        answers = tuple(GoldAnswer(a.text, a.start + shift) for a in example.answers)
        context = "\n\n".join(parts)
        out.append(dataclasses.replace(example, context=context, answers=answers))
    return QADataset(out, version=dataset.version, path=f"{dataset.path} (buried)")
