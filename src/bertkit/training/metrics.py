"""The official metrics: extractive-QA exact match and F1 (SQuAD v1.1, SQuAD v2.0, KorQuAD 1.0) and NER
entity-level precision/recall/F1 (seqeval).

Three QA metrics, each a faithful port of its official evaluation script (scores agree to the last bit when
every question has a prediction; tests/training/test_metrics.py checks SQuAD v1.1 against a vendored copy):

- ``"squad"``: evaluate-v1.1.py (https://rajpurkar.github.io/SQuAD-explorer/). Normalise (lower-case, drop
  ASCII punctuation, drop the articles a/an/the, collapse whitespace), then EM on the normalised strings and
  F1 over whitespace tokens; each question takes the max over its gold answers.
- ``"squad_v2"``: evaluate-v2.0.py. As v1.1, plus unanswerable questions (an empty gold list, scored
  against the single gold ``""``), a HasAns/NoAns breakdown, and, given per-question no-answer
  probabilities, the best threshold for answering ``""`` (``find_best_thresh``, in `training/squad_v2.py`).
- ``"korquad"``: KorQuAD 1.0's evaluate-v1.0.py (https://korquad.github.io/KorQuad%201.0/). Its
  normalisation first turns ' " 《 》 < > 〈 〉 ( ) ‘ ’ into spaces and never removes articles; its F1 is
  over characters (whitespace dropped), so a partial Korean word earns partial credit.

All corpus scores are on a 0-100 scale. Unlike the official scripts, which print a warning, a question with
no prediction is counted in ``"missing"`` and scores 0 ("Unanswered question will receive score 0").

NER: `entity_scores` gives the numbers of seqeval's `classification_report` in its default mode.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from bertkit.errors import InputError

from .squad_v2 import apply_no_answer_threshold, find_best_threshold, mean_scores

Metric = Literal["squad", "squad_v2", "korquad"]
METRICS: tuple[str, ...] = ("squad", "squad_v2", "korquad")

_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# KorQuAD evaluate-v1.0.py, normalize_answer.remove_: twelve re.sub(char, " ", text) calls, one per symbol.
# Each replaces one character by a space, so a single translation table gives the same string.
_KORQUAD_SYMBOLS_TO_SPACE = str.maketrans({symbol: " " for symbol in "'\"《》<>〈〉()‘’"})


def squad_normalize(text: str) -> str:
    """SQuAD's ``normalize_answer``: lower-case, drop punctuation, drop articles, collapse whitespace.

    Punctuation goes before articles, so a hyphenated "the" survives as part of its word.

    Args:
        text: an answer or a prediction.

    >>> squad_normalize("The  Eiffel Tower!")
    'eiffel tower'
    >>> squad_normalize("state-of-the-art")
    'stateoftheart'
    """
    text = text.lower()
    text = text.translate(_DELETE_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def korquad_normalize(text: str) -> str:
    """KorQuAD 1.0's ``normalize_answer``: quote and bracket symbols to spaces, lower-case, drop
    punctuation, collapse whitespace. Articles are kept.

    Args:
        text: an answer or a prediction.

    >>> korquad_normalize("《훈민정음》")
    '훈민정음'
    >>> korquad_normalize("이순신(李舜臣)")  # brackets become spaces; SQuAD would glue the words
    '이순신 李舜臣'
    >>> korquad_normalize("The Beatles")
    'the beatles'
    """
    text = text.translate(_KORQUAD_SYMBOLS_TO_SPACE)
    text = text.lower()
    text = text.translate(_DELETE_PUNCTUATION)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str, normalize: Callable[[str], str] = squad_normalize) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer, else 0.0.

    Args:
        prediction: the predicted answer text.
        gold: one gold answer text.
        normalize: ``squad_normalize`` (SQuAD v1.1/v2.0) or ``korquad_normalize`` (KorQuAD 1.0).
    """
    return float(normalize(prediction) == normalize(gold))


def _f1_of_counts(prediction_items: Sequence[str], gold_items: Sequence[str]) -> float:
    """Harmonic mean of precision and recall of the multiset overlap (0 when nothing overlaps)."""
    common = Counter(prediction_items) & Counter(gold_items)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_items)
    recall = 1.0 * num_same / len(gold_items)
    return (2 * precision * recall) / (precision + recall)


def token_f1(
    prediction: str,
    gold: str,
    normalize: Callable[[str], str] = squad_normalize,
    *,
    empty_scores_agreement: bool = False,
) -> float:
    """F1 over the whitespace tokens of the normalised strings, counting repeated tokens (SQuAD).

    Args:
        prediction: the predicted answer text.
        gold: one gold answer text.
        normalize: how both strings are normalised before splitting.
        empty_scores_agreement: SQuAD v2.0's rule for no-answers: when either side has no tokens the score is
            1.0 if both have none, else 0.0. SQuAD v1.1 (False) scores two empty answers 0.0.

    Example: prediction "the big red car" → [big, red, car]; gold "red car" → [red, car]; 2 tokens in common,
    precision 2/3, recall 2/2, F1 0.8.

    >>> token_f1("the big red car", "red car")
    0.8
    """
    prediction_tokens = normalize(prediction).split()
    gold_tokens = normalize(gold).split()
    if empty_scores_agreement and (not prediction_tokens or not gold_tokens):
        return float(prediction_tokens == gold_tokens)
    return _f1_of_counts(prediction_tokens, gold_tokens)


def char_f1(prediction: str, gold: str) -> float:
    """KorQuAD 1.0's F1: over the characters of the normalised tokens (whitespace dropped).

    Args:
        prediction: the predicted answer text.
        gold: one gold answer text.

    Example: gold "서울특별시" (5 characters), prediction "서울" (2, both in gold): precision 1, recall 2/5,
    F1 4/7 ≈ 0.571, where token F1 would give 0 (the tokens "서울" and "서울특별시" differ).

    >>> round(char_f1("서울", "서울특별시"), 4)
    0.5714
    """
    prediction_chars = [char for token in korquad_normalize(prediction).split() for char in token]
    gold_chars = [char for token in korquad_normalize(gold).split() for char in token]
    return _f1_of_counts(prediction_chars, gold_chars)


def evaluate_predictions(
    golds: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    metric: Metric,
    no_answer_probs: Mapping[str, float] | None = None,
    *,
    no_answer_threshold: float = 1.0,
) -> dict[str, float | int | str]:
    """Corpus exact match and F1 (0-100) of ``predictions`` against ``golds`` with an official metric.

    Args:
        golds: question id → its gold answer texts; the dict's order is the evaluation order. An empty list
            means "no answer" and is allowed only with ``"squad_v2"``.
        predictions: question id → predicted answer text (``""`` = no answer). Ids not in ``golds`` are
            ignored; ids of ``golds`` missing here score 0 and are counted in ``"missing"``.
        metric: ``"squad"``, ``"squad_v2"`` or ``"korquad"`` (see the module docstring).
        no_answer_probs: ``"squad_v2"`` only: question id → probability that it has no answer, for every
            predicted question. Enables ``best_*`` and the ``no_answer_threshold`` rule.
        no_answer_threshold: ``"squad_v2"`` with ``no_answer_probs``: a question whose probability is above
            it is scored as if ``""`` had been predicted (the official ``--na-prob-thresh``, default 1.0).

    Returns:
        ``{"metric", "exact_match", "f1", "n", "missing"}``; for ``"squad_v2"`` also ``HasAns_exact_match``,
        ``HasAns_f1``, ``HasAns_n`` (when some question has an answer), the same with ``NoAns_`` (when some
        has none), and with ``no_answer_probs`` ``best_exact_match``, ``best_exact_match_thresh``,
        ``best_f1``, ``best_f1_thresh``. (The official v2.0 names: exact, total, best_exact, ...)
    """
    _check_arguments(golds, predictions, metric)
    if metric == "squad_v2":
        return _evaluate_squad_v2(golds, predictions, no_answer_probs, no_answer_threshold)
    if no_answer_probs is not None:
        raise InputError(f"no_answer_probs is used only by metric 'squad_v2', not {metric!r}")
    return _evaluate_v1(golds, predictions, metric)


def comparison(metric: Metric) -> tuple[Callable[[str], str], Callable[[str, str], float]]:
    """How `metric` compares one answer with one gold answer: (normalise, F1) — SQuAD v1.1/v2.0's
    (`squad_normalize`, `token_f1`) or KorQuAD's (`korquad_normalize`, `char_f1`)."""
    return (korquad_normalize, char_f1) if metric == "korquad" else (squad_normalize, token_f1)


def _check_arguments(golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str], metric: str) -> None:
    """Raise `InputError` for an unknown metric, no gold questions, no prediction for any of them (which
    would score 0.00 as if a model had answered badly), or a prediction that is not a string."""
    if metric not in METRICS:
        raise InputError(f"unknown QA metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not golds:
        raise InputError("no gold questions to evaluate")
    if not any(question_id in predictions for question_id in golds):
        shown = f" (predicted ids such as {next(iter(predictions))!r})" if predictions else ""
        raise InputError(
            f"no prediction is for one of the {len(golds)} gold questions{shown}: nothing to score"
        )
    for question_id, prediction in predictions.items():
        if not isinstance(prediction, str):
            raise InputError(
                f"prediction for question {question_id!r} must be a string, got {type(prediction).__name__}"
            )


def _evaluate_v1(
    golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str], metric: Metric
) -> dict[str, float | int | str]:
    """evaluate-v1.1.py (``"squad"``) or KorQuAD's evaluate-v1.0.py (``"korquad"``): every question has a
    gold answer; each scores its best over them."""
    normalize, f1_of = comparison(metric)
    exact_total = f1_total = 0.0
    missing = 0
    for question_id, answers in golds.items():
        if not answers:
            raise InputError(
                f"question {question_id!r} has no gold answer; metric {metric!r} needs one "
                "(use 'squad_v2' for unanswerable questions)"
            )
        if question_id not in predictions:
            missing += 1
            continue
        prediction = predictions[question_id]
        exact_total += max(exact_match(prediction, gold, normalize) for gold in answers)
        f1_total += max(f1_of(prediction, gold) for gold in answers)
    n = len(golds)
    return {
        "metric": metric,
        "exact_match": 100.0 * exact_total / n,
        "f1": 100.0 * f1_total / n,
        "n": n,
        "missing": missing,
    }


def _evaluate_squad_v2(
    golds: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    no_answer_probs: Mapping[str, float] | None,
    no_answer_threshold: float,
) -> dict[str, float | int | str]:
    """evaluate-v2.0.py: get_raw_scores, apply_no_ans_threshold, make_eval_dict and find_all_best_thresh."""
    has_answer = {question_id: bool(answers) for question_id, answers in golds.items()}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for question_id, answers in golds.items():
        if question_id not in predictions:
            continue
        # The official script drops gold answers that normalise to nothing: a gold list of only "the"
        # is scored as a no-answer, though it still counts in HasAns.
        gold_texts = [text for text in answers if squad_normalize(text)] or [""]
        prediction = predictions[question_id]
        exact_raw[question_id] = max(exact_match(prediction, gold) for gold in gold_texts)
        f1_raw[question_id] = max(
            token_f1(prediction, gold, empty_scores_agreement=True) for gold in gold_texts
        )

    if no_answer_probs is not None:
        without_prob = [question_id for question_id in exact_raw if question_id not in no_answer_probs]
        if without_prob:
            raise InputError(
                f"no_answer_probs lacks {len(without_prob)} predicted question(s), e.g. {without_prob[0]!r}"
            )
        exact_scores = apply_no_answer_threshold(exact_raw, no_answer_probs, has_answer, no_answer_threshold)
        f1_scores = apply_no_answer_threshold(f1_raw, no_answer_probs, has_answer, no_answer_threshold)
    else:
        exact_scores, f1_scores = exact_raw, f1_raw

    all_ids = list(golds)
    result: dict[str, float | int | str] = {"metric": "squad_v2"}
    result.update(mean_scores(exact_scores, f1_scores, all_ids, prefix=""))
    result["missing"] = len(all_ids) - len(exact_raw)
    for prefix, wanted in (("HasAns_", True), ("NoAns_", False)):
        ids = [question_id for question_id in all_ids if has_answer[question_id] is wanted]
        if ids:
            result.update(mean_scores(exact_scores, f1_scores, ids, prefix=prefix))
    if no_answer_probs is not None:
        for name, raw in (("exact_match", exact_raw), ("f1", f1_raw)):
            best, threshold = find_best_threshold(raw, predictions, no_answer_probs, has_answer, len(all_ids))
            result[f"best_{name}"] = best
            result[f"best_{name}_thresh"] = threshold
    return result


# --- seqeval ------------------------------------------------------------------------------------------------


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def get_entities(seq: Sequence[str] | Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """seqeval's `get_entities`: (type, first unit, last unit) of every chunk, in its non-strict reading.

    A list of sentences is read as one sequence with an "O" after each sentence (offsets count those).
    An I- tag after O (or after another type) starts a chunk, as in seqeval.

    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"])
    [('PER', 0, 1), ('LOC', 3, 3), ('LOC', 4, 4), ('ORG', 5, 5)]
    """
    if any(isinstance(s, (list, tuple)) for s in seq):
        seq = [item for sentence in seq for item in [*sentence, "O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, chunk in enumerate([*seq, "O"]):
        tag = chunk[0]
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _prf(correct: int, predicted: int, true: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision, recall and F1 (0-100), micro-averaged over types, and per type: the numbers
    of seqeval's `classification_report(y_true, y_pred)` in its default mode (times 100).

    An entity counts as correct when a predicted chunk has the same type, start and end as a gold one.
    A ratio with a zero denominator is 0 (seqeval's `zero_division="warn"` also gives 0).

    Returns:
        {precision, recall, f1, n (sentences), true_entities, predicted_entities, correct,
         per_type: {type: {precision, recall, f1, support, predicted, correct}}}

    Example: gold [B-PER I-PER O B-LOC], predicted [B-PER I-PER O B-ORG]: PER is right, LOC is missed and
    ORG is spurious: precision 1/2, recall 1/2, F1 50.

    >>> scores = entity_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    >>> scores["precision"], scores["recall"], scores["f1"]
    (50.0, 50.0, 50.0)
    """
    if len(y_true) != len(y_pred):
        raise InputError(f"got {len(y_true)} gold sentences but {len(y_pred)} predicted ones")
    for i, (tags, guessed) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(tags) != len(guessed):
            raise InputError(f"sentence {i}: {len(tags)} gold tags but {len(guessed)} predicted tags")
    gold: dict[str, set[tuple[int, int]]] = defaultdict(set)
    pred: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for kind, start, end in get_entities([list(s) for s in y_true]):
        gold[kind].add((start, end))
    for kind, start, end in get_entities([list(s) for s in y_pred]):
        pred[kind].add((start, end))
    per_type = {}
    totals = [0, 0, 0]
    for kind in sorted(set(gold) | set(pred)):
        correct, predicted, true = len(gold[kind] & pred[kind]), len(pred[kind]), len(gold[kind])
        p, r, f = _prf(correct, predicted, true)
        per_type[kind] = {
            "precision": 100 * p,
            "recall": 100 * r,
            "f1": 100 * f,
            "support": true,
            "predicted": predicted,
            "correct": correct,
        }
        totals = [totals[0] + correct, totals[1] + predicted, totals[2] + true]
    p, r, f = _prf(*totals)
    return {
        "precision": 100 * p,
        "recall": 100 * r,
        "f1": 100 * f,
        "n": len(y_true),
        "true_entities": totals[2],
        "predicted_entities": totals[1],
        "correct": totals[0],
        "per_type": per_type,
    }
