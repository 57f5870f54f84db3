"""Where a QA model's answers went: each prediction sorted by how it stands to its gold answers, so that a
score says whether a model misreads (answers elsewhere) or only misplaces the ends of right answers.

Kinds, each question taking the first that holds for one of its gold answers, both sides normalised as the
metric normalises them (`metrics.comparison`):

- ``exact``: equal (the metric's exact match);
- ``wider``: the prediction contains the gold answer and more ("2017년 2월 13일" for "2017년");
- ``narrower``: the gold answer contains the prediction ("카" for "카를 13세");
- ``overlapping``: they share words (SQuAD) or characters (KorQuAD): F1 above 0, neither inside the other;
- ``elsewhere``: nothing in common (F1 0): another span, usually of the right type, the wrong one;
- ``no_answer``: "" predicted where a gold answer exists (SQuAD v2.0 models abstaining);
- ``answered_unanswerable``: a span predicted for a question without one (SQuAD v2.0);
- ``missing``: no prediction for the question.

Containment is by whole words for SQuAD ("red car" is inside "big red car", "car" is not inside "carpet") and
by characters with the spaces dropped for KorQuAD, whose F1 is over characters ("서울" is inside "서울에서").

>>> answer_kinds({"q1": ["red car"], "q2": ["서울"]}, {"q1": "the big red car", "q2": "부산"}, "squad")
{'exact': 0, 'wider': 1, 'narrower': 0, 'overlapping': 0, 'elsewhere': 1, 'no_answer': 0, 'answered_unanswerable': 0, 'missing': 0}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .metrics import Metric, comparison

KINDS = (
    "exact",
    "wider",
    "narrower",
    "overlapping",
    "elsewhere",
    "no_answer",
    "answered_unanswerable",
    "missing",
)


def answer_kinds(
    golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str], metric: Metric
) -> dict[str, int]:
    """How many questions of `golds` fall in each kind of `KINDS` (all present, in that order)."""
    counts = dict.fromkeys(KINDS, 0)
    for question_id, answers in golds.items():
        prediction = predictions.get(question_id)
        counts[answer_kind(prediction, answers, metric)] += 1
    return counts


def answer_kind(prediction: str | None, answers: Sequence[str], metric: Metric) -> str:
    """The kind of one prediction (None: missing) against its gold answers (empty: unanswerable).

    >>> answer_kind("카", ["카를 13세"], "korquad"), answer_kind("Denver Broncos", ["Broncos"], "squad")
    ('narrower', 'wider')
    """
    if prediction is None:
        return "missing"
    normalize, f1 = comparison(metric)
    golds = [g for g in (normalize(a) for a in answers) if g]
    predicted = normalize(prediction)
    if not golds:
        return "exact" if not predicted else "answered_unanswerable"
    if not predicted:
        return "no_answer"
    inside = _inside_characters if metric == "korquad" else _inside_words
    order = ("exact", "wider", "narrower", "overlapping", "elsewhere")
    return order[min(order.index(_kind(predicted, gold, inside, f1)) for gold in golds)]


def _kind(
    predicted: str, gold: str, inside: Callable[[str, str], bool], f1: Callable[[str, str], float]
) -> str:
    """The kind of a normalised, non-empty prediction against one normalised, non-empty gold answer."""
    if predicted == gold:
        return "exact"
    if inside(gold, predicted):
        return "wider"
    if inside(predicted, gold):
        return "narrower"
    return "overlapping" if f1(predicted, gold) > 0 else "elsewhere"


def _inside_words(part: str, whole: str) -> bool:
    return f" {part} " in f" {whole} "


def _inside_characters(part: str, whole: str) -> bool:
    return part.replace(" ", "") in whole.replace(" ", "")
