"""QA metrics: hand-computed cases for each official metric, and parity with the official SQuAD v1.1 script."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bertkit.errors import InputError
from bertkit.training.metrics import (
    char_f1,
    entity_scores,
    evaluate_predictions,
    exact_match,
    get_entities,
    korquad_normalize,
    squad_normalize,
    token_f1,
)

from . import official_squad_v1

SQUAD_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad-v1.1-dev.json"


# --- normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Eiffel Tower!", "eiffel tower"),
        ("an anatomy of a thing", "anatomy of thing"),  # articles go as whole words only
        ("state-of-the-art", "stateoftheart"),  # punctuation goes first, so this "the" stays
        ("U.S.A.", "usa"),
        ("《훈민정음》", "《훈민정음》"),  # not ASCII punctuation: SQuAD keeps it
        ("\tA\nB ", "b"),
        ("", ""),
    ],
)
def test_squad_normalize(text, expected):
    assert squad_normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("《훈민정음》", "훈민정음"),
        ("〈님의 침묵〉", "님의 침묵"),
        ("‘정의’", "정의"),
        ("이순신(李舜臣)", "이순신 李舜臣"),  # brackets become spaces, not nothing
        ("<b>", "b"),
        ('"KBS"', "kbs"),
        ("1,000원.", "1000원"),
        ("The Beatles", "the beatles"),  # articles are kept
    ],
)
def test_korquad_normalize(text, expected):
    assert korquad_normalize(text) == expected


# --- per-answer scores ---------------------------------------------------------------------------------


def test_token_f1_hand_computed():
    # [big, red, car] vs [red, car]: precision 2/3, recall 1 → 0.8
    assert token_f1("the big red car", "red car") == pytest.approx(0.8)
    # repeated tokens count once per match: common {y: 2}; precision 2/3, recall 2/4 → 4/7
    assert token_f1("x y y", "y y y z") == pytest.approx(4 / 7)
    assert token_f1("Paris", "London") == 0.0
    # SQuAD v1.1 gives 0 to two empty answers; v2.0 counts the agreement
    assert token_f1("", "the") == 0.0
    assert token_f1("", "the", empty_scores_agreement=True) == 1.0
    assert token_f1("Paris", "", empty_scores_agreement=True) == 0.0


def test_char_f1_gives_partial_credit_inside_a_korean_word():
    # 서울 (2 chars) inside 서울특별시 (5): precision 1, recall 2/5 → F1 4/7; the tokens differ → token F1 0
    assert char_f1("서울", "서울특별시") == pytest.approx(4 / 7)
    assert token_f1("서울", "서울특별시") == 0.0
    assert exact_match("서울", "서울특별시", korquad_normalize) == 0.0
    # spaces are not characters: "대한 민국" vs "대한민국" match fully
    assert char_f1("대한 민국", "대한민국") == 1.0
    # repeated characters count per occurrence: 하하하 vs 하하: common 2, precision 2/3, recall 1 → 0.8
    assert char_f1("하하하", "하하") == pytest.approx(0.8)


def test_korquad_keeps_articles_and_squad_drops_them():
    assert exact_match("Beatles", "The Beatles", squad_normalize) == 1.0
    assert exact_match("Beatles", "The Beatles", korquad_normalize) == 0.0
    # 7 characters of "beatles" all in "thebeatles" (10): precision 1, recall 7/10 → 14/17
    assert char_f1("Beatles", "The Beatles") == pytest.approx(14 / 17)


def test_korquad_symbols_and_punctuation():
    assert exact_match("훈민정음", "《훈민정음》", korquad_normalize) == 1.0
    assert exact_match("훈민정음", "《훈민정음》", squad_normalize) == 0.0
    # KorQuAD turns the brackets into spaces; SQuAD deletes them and glues the words
    assert exact_match("이순신 李舜臣", "이순신(李舜臣)", korquad_normalize) == 1.0
    assert exact_match("이순신 李舜臣", "이순신(李舜臣)", squad_normalize) == 0.0
    assert exact_match("1000원", "1,000원.", korquad_normalize) == 1.0


@given(st.text(max_size=20), st.text(max_size=20))
def test_f1_is_symmetric_and_bounded(prediction, gold):
    for f1 in (token_f1, char_f1):
        score = f1(prediction, gold)
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(f1(gold, prediction))
    if exact_match(prediction, gold) and squad_normalize(gold):
        assert token_f1(prediction, gold) == 1.0


# --- corpus scores -------------------------------------------------------------------------------------


def test_squad_corpus_scores_and_missing_predictions():
    golds = {"q1": ["Paris", "the city of Paris"], "q2": ["red car"], "q3": ["1990"]}
    predictions = {"q1": "paris.", "q2": "the big red car"}  # q3 unanswered
    result = evaluate_predictions(golds, predictions, "squad")
    # EM: 1, 0, 0 → 33.33; F1: 1, 0.8, 0 → 60
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(60.0)
    assert (result["n"], result["missing"], result["metric"]) == (3, 1, "squad")


def test_korquad_corpus_scores():
    golds = {"k1": ["서울특별시"], "k2": ["《훈민정음》"]}
    result = evaluate_predictions(golds, {"k1": "서울", "k2": "훈민정음"}, "korquad")
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (4 / 7 + 1) / 2)
    squad = evaluate_predictions(golds, {"k1": "서울", "k2": "훈민정음"}, "squad")
    assert squad["f1"] == 0.0


# SQuAD v2.0 set: (gold answers, prediction, no-answer probability)
#   q1: ["Paris"],    "Paris",  0.1 → exact 1, f1 1
#   q2: ["May 1990"], "1990",   0.2 → exact 0, f1 2/3 (precision 1, recall 1/2)
#   q3: [],           "",       0.9 → exact 1, f1 1   (no answer, none given)
#   q4: [],           "London", 0.3 → exact 0, f1 0   (no answer, one given)
V2_GOLDS = {"q1": ["Paris"], "q2": ["May 1990"], "q3": [], "q4": []}
V2_PREDICTIONS = {"q1": "Paris", "q2": "1990", "q3": "", "q4": "London"}
V2_PROBS = {"q1": 0.1, "q2": 0.2, "q3": 0.9, "q4": 0.3}


def test_squad_v2_scores_and_breakdown():
    result = evaluate_predictions(V2_GOLDS, V2_PREDICTIONS, "squad_v2")
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert (result["HasAns_exact_match"], result["HasAns_f1"], result["HasAns_n"]) == pytest.approx(
        (50.0, 100 * (1 + 2 / 3) / 2, 2)
    )
    assert (result["NoAns_exact_match"], result["NoAns_f1"], result["NoAns_n"]) == pytest.approx(
        (50.0, 50.0, 2)
    )
    assert "best_f1" not in result


def test_squad_v2_best_threshold():
    # Start with all four answered "": q3, q4 right → 2. Then by rising probability:
    #   exact: q1 +1 → 3 (best, 0.1); q2 +0 → 3; q4 -1 → 2; q3 ±0 → 2.   best 75 at 0.1
    #   f1:    q1 +1 → 3 (0.1); q2 +2/3 → 3.67 (best, 0.2); q4 -1; q3 ±0.  best 91.67 at 0.2
    result = evaluate_predictions(V2_GOLDS, V2_PREDICTIONS, "squad_v2", V2_PROBS)
    assert result["best_exact_match"] == pytest.approx(75.0)
    assert result["best_exact_match_thresh"] == 0.1
    assert result["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
    assert result["best_f1_thresh"] == 0.2
    # the default threshold (1.0) changes nothing
    assert result["exact_match"] == pytest.approx(50.0)


def test_squad_v2_no_answer_threshold():
    # above 0.25: q4 (0.3) and q3 (0.9) are scored as "" → both right
    result = evaluate_predictions(V2_GOLDS, V2_PREDICTIONS, "squad_v2", V2_PROBS, no_answer_threshold=0.25)
    assert result["exact_match"] == pytest.approx(75.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 1) / 4)


def test_squad_v2_missing_prediction_scores_zero():
    predictions = {key: value for key, value in V2_PREDICTIONS.items() if key != "q3"}
    probs = {key: value for key, value in V2_PROBS.items() if key != "q3"}
    result = evaluate_predictions(V2_GOLDS, predictions, "squad_v2", probs)
    assert result["missing"] == 1
    assert result["exact_match"] == pytest.approx(25.0)
    assert result["NoAns_exact_match"] == pytest.approx(0.0)
    # q4 alone starts right (1); q1 → 2 (best, 0.1); q2 → 2; q4 → 1: 2/4
    assert result["best_exact_match"] == pytest.approx(50.0)


def test_squad_v2_gold_that_normalises_to_nothing_counts_as_no_answer():
    # as evaluate-v2.0.py: gold ["the"] is dropped and replaced by "", yet the question stays in HasAns
    result = evaluate_predictions({"q": ["the"]}, {"q": ""}, "squad_v2")
    assert (result["exact_match"], result["f1"], result["HasAns_n"]) == (100.0, 100.0, 1)


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError, match="unknown QA metric"):
        evaluate_predictions({"q": ["a"]}, {}, "bleu")
    with pytest.raises(InputError, match="'q' has no gold answer"):
        evaluate_predictions({"q": []}, {"q": ""}, "squad")
    with pytest.raises(InputError, match="only by metric 'squad_v2'"):
        evaluate_predictions({"q": ["x"]}, {"q": "x"}, "korquad", {"q": 0.5})
    with pytest.raises(InputError, match="lacks 3 predicted question"):
        evaluate_predictions(V2_GOLDS, V2_PREDICTIONS, "squad_v2", {"q1": 0.1})
    with pytest.raises(InputError, match="must be a string"):
        evaluate_predictions({"q": ["x"]}, {"q": None}, "squad")


# --- parity with the official SQuAD v1.1 script --------------------------------------------------------


def _perturb(rng: random.Random, gold: str, other_answer: str) -> str:
    """A plausible model prediction near ``gold``: a sub-span, extra words, articles, punctuation, ..."""
    words = gold.split()
    kind = rng.randrange(8)
    if kind == 0:
        return gold
    if kind == 1 and len(words) > 1:
        start = rng.randrange(len(words))
        return " ".join(words[start : rng.randrange(start + 1, len(words) + 1)])
    if kind == 2:
        return rng.choice(["the ", "a ", "An ", "THE "]) + gold
    if kind == 3:
        return rng.choice(['"', "(", "", "'"]) + gold + rng.choice([".", ",", "!)", "'s", "?"])
    if kind == 4:
        return other_answer
    if kind == 5:
        return gold.upper() if rng.random() < 0.5 else gold.lower()
    if kind == 6:
        return gold + " " + other_answer
    return rng.choice(["", " ", "the", "-", gold[: max(1, len(gold) // 2)]])


@pytest.fixture(scope="module")
def squad_dev():
    if not SQUAD_DEV.exists():
        pytest.skip(f"shared data not found at {SQUAD_DEV}")
    return json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]


def test_agrees_with_official_squad_v1_script(squad_dev, capsys):
    rng = random.Random(1234)
    qas = [qa for article in squad_dev for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    sample = rng.sample(qas, 300)
    all_answers = [answer["text"] for qa in qas for answer in qa["answers"]]
    golds = {qa["id"]: [answer["text"] for answer in qa["answers"]] for qa in sample}
    predictions = {
        qa_id: _perturb(rng, rng.choice(answers), rng.choice(all_answers)) for qa_id, answers in golds.items()
    }
    for qa_id, answers in golds.items():
        prediction = predictions[qa_id]
        for gold in answers:
            assert squad_normalize(gold) == official_squad_v1.normalize_answer(gold)
            assert exact_match(prediction, gold) == official_squad_v1.exact_match_score(prediction, gold)
            assert token_f1(prediction, gold) == official_squad_v1.f1_score(prediction, gold)

    del predictions[sample[0]["id"]]  # one unanswered question scores 0 in both
    official = official_squad_v1.evaluate([{"paragraphs": [{"qas": sample}]}], predictions)
    ours = evaluate_predictions(golds, predictions, "squad")
    assert ours["exact_match"] == pytest.approx(official["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(official["f1"], abs=1e-9)
    assert ours["missing"] == 1
    assert "Unanswered question" in capsys.readouterr().err
    # the sample is not trivially perfect or hopeless
    assert 20 < ours["exact_match"] < 90


# --- seqeval ---


def test_seqeval_readme_example():
    """The example of seqeval's README: MISC is predicted one token too early; f1_score 0.50."""
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = entity_scores(y_true, y_pred)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (50.0, 50.0, 50.0)
    assert scores["per_type"]["MISC"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
        "predicted": 1,
        "correct": 0,
    }
    assert scores["per_type"]["PER"]["f1"] == 100.0
    assert (scores["n"], scores["true_entities"], scores["predicted_entities"], scores["correct"]) == (
        2,
        2,
        2,
        1,
    )


def test_seqeval_chunks_non_strict():
    assert get_entities(["B-PER", "I-PER", "O"]) == [("PER", 0, 1)]
    assert get_entities(["I-PER", "I-PER"]) == [("PER", 0, 1)]  # I- after O starts a chunk
    assert get_entities(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # a type change ends one
    assert get_entities(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    assert get_entities(["B-creative-work", "I-creative-work"]) == [("creative-work", 0, 1)]
    assert get_entities(["S-LOC", "B-PER", "E-PER"]) == [("LOC", 0, 0), ("PER", 1, 2)]  # IOBES too
    # Sentences never share a chunk: an "O" is read after each (offsets count it).
    assert get_entities([["B-PER"], ["I-PER"]]) == [("PER", 0, 0), ("PER", 2, 2)]


def test_seqeval_hand_computed():
    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    # PER 0-1 right; LOC predicted as ORG; the ORG of sentence 2 right; its PER missed.
    y_pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    scores = entity_scores(y_true, y_pred)
    # gold 4 (PER, LOC, ORG, PER), predicted 3 (PER, ORG, ORG), correct 2 (PER, ORG)
    assert (scores["true_entities"], scores["predicted_entities"], scores["correct"]) == (4, 3, 2)
    assert scores["precision"] == pytest.approx(200 / 3)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5) * 100)
    assert scores["per_type"]["ORG"]["precision"] == 50.0 and scores["per_type"]["ORG"]["recall"] == 100.0
    assert scores["per_type"]["LOC"]["support"] == 1 and scores["per_type"]["LOC"]["predicted"] == 0
    assert scores["per_type"]["PER"]["recall"] == 50.0


def test_seqeval_edge_cases():
    nothing = entity_scores([["O", "O"]], [["O", "O"]])
    assert (nothing["precision"], nothing["recall"], nothing["f1"], nothing["per_type"]) == (
        0.0,
        0.0,
        0.0,
        {},
    )
    missed = entity_scores([["B-PER"]], [["O"]])
    assert (missed["precision"], missed["recall"], missed["f1"]) == (0.0, 0.0, 0.0)
    perfect = entity_scores([["B-PER", "I-PER"], ["I-LOC"]], [["B-PER", "I-PER"], ["B-LOC"]])
    assert perfect["f1"] == 100.0  # I-LOC after O and B-LOC are the same chunk in the default mode
    with pytest.raises(InputError, match="sentence 0"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(InputError, match="gold sentences"):
        entity_scores([["O"]], [])


def test_klue_figures_against_sklearn_and_seqeval_macro():
    """KLUE-NER's entity macro F1 and character macro F1, by hand on a case where they differ from micro."""
    from bertkit.training.klue_metrics import entity_macro_f1, tag_macro_f1
    from bertkit.training.metrics import entity_scores

    gold = [["B-PS", "I-PS", "O", "B-LC", "I-LC"], ["B-DT", "O", "O"]]
    pred = [["B-PS", "I-PS", "O", "B-LC", "O"], ["B-DT", "O", "B-QT"]]
    scores = entity_scores(gold, pred)
    # PS 1/1, LC 0 (the span is cut), DT 1/1, QT spurious 0: macro (100 + 0 + 100 + 0) / 4
    assert entity_macro_f1(scores) == 50.0 and round(scores["f1"], 2) == 57.14  # micro: 2 of 4 and 2 of 3
    # per tag (tp, fp, fn): B-PS (1,0,0) I-PS (1,0,0) B-LC (1,0,0) I-LC (0,0,1) B-DT (1,0,0) B-QT (0,1,0)
    # O (2,1,1): F1 1, 1, 1, 0, 1, 0, 4/6
    assert abs(tag_macro_f1(gold, pred) - 100 * (4 + 4 / 6) / 7) < 1e-9
