"""SQuAD v2.0's no-answer threshold, as evaluate-v2.0.py computes it: scoring a question as "" when its
no-answer probability is above a threshold, the mean scores of a set of questions, and the best threshold
(`find_best_thresh`). The metrics themselves are `training/metrics.py`'s (`evaluate_predictions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def apply_no_answer_threshold(
    scores: Mapping[str, float],
    no_answer_probs: Mapping[str, float],
    has_answer: Mapping[str, bool],
    threshold: float,
) -> dict[str, float]:
    """A question whose no-answer probability is above ``threshold`` scores 1 if it has no answer, else 0."""
    return {
        question_id: float(not has_answer[question_id]) if no_answer_probs[question_id] > threshold else score
        for question_id, score in scores.items()
    }


def mean_scores(
    exact_scores: Mapping[str, float], f1_scores: Mapping[str, float], ids: Sequence[str], prefix: str
) -> dict[str, float | int]:
    """make_eval_dict over ``ids``, a question without a score (no prediction) counting 0."""
    n = len(ids)
    return {
        f"{prefix}exact_match": 100.0 * sum(exact_scores.get(question_id, 0.0) for question_id in ids) / n,
        f"{prefix}f1": 100.0 * sum(f1_scores.get(question_id, 0.0) for question_id in ids) / n,
        f"{prefix}n": n,
    }


def find_best_threshold(
    scores: Mapping[str, float],
    predictions: Mapping[str, str],
    no_answer_probs: Mapping[str, float],
    has_answer: Mapping[str, bool],
    n_questions: int,
) -> tuple[float, float]:
    """find_best_thresh of evaluate-v2.0.py: the score (0-100) and threshold of the best no-answer cut.

    Start with every predicted question answered "" (so each no-answer question scores 1), then answer
    them in order of rising no-answer probability, keeping the best running total. Example with
    (has answer?, score, prediction, prob): q1 (yes, 1, "Paris", 0.1), q2 (no, 0, "London", 0.3),
    q3 (no, 1, "", 0.9): start 2 (q2, q3); q1 → 3 (best, threshold 0.1); q2 → 2 (a spurious answer
    loses its point); q3 → 2 (still ""). Best 100 * 3/3 at 0.1.

    Ties are taken one question at a time in ``no_answer_probs`` order, as the official script does. Only
    questions with a prediction take part; missing ones stay at 0 (the official script, which assumes
    none is missing, would count a missing no-answer question as right).
    """
    running: float = sum(1 for question_id in scores if not has_answer[question_id])
    best, best_threshold = float(running), 0.0
    for question_id in sorted(no_answer_probs, key=lambda key: no_answer_probs[key]):
        if question_id not in scores:
            continue
        if has_answer[question_id]:
            running += scores[question_id]
        elif predictions[question_id]:
            running -= 1
        if running > best:
            best, best_threshold = running, no_answer_probs[question_id]
    return 100.0 * best / n_questions, best_threshold
