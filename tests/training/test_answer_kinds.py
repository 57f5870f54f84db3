"""`training.answer_kinds`: where a model's answers went (exact, wider, narrower, overlapping, elsewhere)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bertkit.training.answer_kinds import KINDS, answer_kind, answer_kinds
from bertkit.training.metrics import evaluate_predictions


@pytest.mark.parametrize(
    "prediction, answers, metric, kind",
    [
        ("the Denver Broncos", ["Denver Broncos"], "squad", "exact"),  # the metric drops articles
        ("Denver Broncos", ["Broncos"], "squad", "wider"),
        ("Broncos", ["Denver Broncos"], "squad", "narrower"),
        ("Broncos won", ["Denver Broncos"], "squad", "overlapping"),
        ("car", ["carpet"], "squad", "elsewhere"),  # whole words for SQuAD
        ("Panthers", ["Denver Broncos", "Broncos"], "squad", "elsewhere"),
        ("Denver", ["Broncos", "Denver"], "squad", "exact"),  # the best over the gold answers
        ("2017년 2월 13일", ["2017년"], "korquad", "wider"),
        ("카", ["카를 13세"], "korquad", "narrower"),
        ("서울에서", ["서울"], "korquad", "wider"),  # characters for KorQuAD
        ("《검은 꽃》", ["검은 꽃"], "korquad", "exact"),
        ("부산", ["서울"], "korquad", "elsewhere"),
        ("", ["서울"], "korquad", "no_answer"),
        ("", [], "squad_v2", "exact"),
        ("Paris", [], "squad_v2", "answered_unanswerable"),
        (None, ["Paris"], "squad", "missing"),
    ],
)  # fmt: skip
def test_each_kind(prediction, answers, metric, kind):
    assert answer_kind(prediction, answers, metric) == kind


def test_counts_cover_every_question_and_agree_with_exact_match():
    golds = {"a": ["red car"], "b": ["Paris"], "c": ["Seoul"], "d": ["blue sky"]}
    predictions = {"a": "red car", "b": "in Paris", "c": "Busan"}
    kinds = answer_kinds(golds, predictions, "squad")
    assert list(kinds) == list(KINDS)
    assert (kinds["exact"], kinds["wider"], kinds["elsewhere"], kinds["missing"]) == (1, 1, 1, 1)
    assert sum(kinds.values()) == len(golds)
    em = evaluate_predictions(golds, predictions, "squad")["exact_match"]
    assert em == pytest.approx(100 * kinds["exact"] / len(golds))


words = st.lists(
    st.sampled_from(["서울", "부산", "에서", "red", "car", "sky", "blue", "13세"]), min_size=1, max_size=4
)


@given(words, words, st.sampled_from(["squad", "korquad"]))
def test_kinds_follow_the_metric(prediction_words, gold_words, metric):
    """exact ⇔ exact match; elsewhere ⇔ F1 0; containment ⇒ some overlap."""
    prediction, gold = " ".join(prediction_words), " ".join(gold_words)
    scores = evaluate_predictions({"q": [gold]}, {"q": prediction}, metric)
    kind = answer_kind(prediction, [gold], metric)
    assert (kind == "exact") == (scores["exact_match"] == 100)
    assert (kind == "elsewhere") == (scores["f1"] == 0)
