"""AddSent-style distractors: they resemble the question, never hold its answer, and leave gold spans put."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.training.qa_adversarial import adversarial, inserted, sentence_boundaries, wh_phrase
from bertkit.training.qa_data import GoldAnswer, QADataset, QAExample


def dataset():
    rows = [
        ("a", "Who founded Acme in 1901?", "Acme was founded in 1901 by Ann Lee.", "Ann Lee"),
        ("b", "Who led Globex in 1950?", "Globex was led by Bo Ray in 1950.", "Bo Ray"),
        ("c", "When did Initech open?", "Initech opened in 1999.", "1999"),
        ("d", "When did Hooli close?", "Hooli closed in 2011.", "2011"),
        ("e", "Why is the sky blue?", "The sky is blue because of scattering.", "scattering"),
        ("f", "What did the water become?", "The water became steam.", "steam"),
        ("g", "What did the metal become?", "The metal became rust.", "rust"),
    ]
    return QADataset([QAExample(i, q, c, (GoldAnswer(a, c.index(a)),)) for i, q, c, a in rows], version="1.1")


def test_wh_phrase_prefers_the_longest():
    assert wh_phrase("How many moons has Mars?")[0] == "how many"
    assert wh_phrase("In what year did Tesla die?") == ("what year", 3, 12)
    assert wh_phrase("Name the river.") is None


def test_distractor_takes_a_fake_of_the_same_kind_and_keeps_gold_spans():
    adv = adversarial(dataset(), seed=0)
    by_id = {e.id: e for e in adv.examples}
    assert set(by_id) == {"a", "b", "c", "d", "f", "g"}  # "why" has no other answer to borrow
    # no name or number to swap: a content word is, so the sentence does not answer the question
    f = by_id["f"].context.removeprefix("The water became steam. ")
    assert f.startswith("Rust did the ") and f != "Rust did the water become."
    a = by_id["a"]
    sentence = a.context.removeprefix("Acme was founded in 1901 by Ann Lee. ")
    assert sentence.startswith("Bo Ray founded ") and sentence.endswith(".")  # the other "who" answer
    assert "Ann Lee" not in sentence
    c = by_id["c"].context.removeprefix("Initech opened in 1999. ")
    assert c.startswith("2011 did ") and c.endswith(" open.") and "Initech" not in c  # name swapped
    for e in adv.examples:
        g = e.answers[0]
        assert e.context[g.start : g.start + len(g.text)] == g.text


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_no_distractor_contains_its_gold_answer(seed):
    for e in adversarial(dataset(), seed=seed).examples:
        original = next(x for x in dataset().examples if x.id == e.id)
        assert e.answers[0].text not in e.context[len(original.context) :]


def test_placement_anywhere_puts_the_sentence_between_sentences_and_moves_the_answers():
    base = {e.id: e for e in dataset().examples}
    seen_places = set()
    for seed in range(20):
        for e in adversarial(dataset(), seed=seed, placement="anywhere").examples:
            original = base[e.id]
            g = e.answers[0]
            assert e.context[g.start : g.end] == g.text  # the gold span moved with its text
            added = len(e.context) - len(original.context)
            # the original context is the new one less one piece at a boundary: before it, or after it
            at = next(
                i
                for i in sentence_boundaries(original)
                if e.context[:i] == original.context[:i] and e.context[i + added :] == original.context[i:]
            )
            seen_places.add("start" if at == 0 else "end" if at == len(original.context) else "inside")
    assert seen_places == {"start", "end"}  # one-sentence contexts: before or after, never inside a sentence


def test_sentence_boundaries_skip_gold_answers():
    context = "Dr. No came. He left."
    example = QAExample("x", "Who came?", context, (GoldAnswer("Dr. No", 0),))
    assert sentence_boundaries(example) == [0, 13, len(context)]  # not after "Dr." (inside the answer)
    moved = inserted(example, "Bo came.", 13)
    assert moved.context == "Dr. No came. Bo came. He left." and moved.answers == example.answers
    first = inserted(example, "Bo came.", 0)
    assert first.context.startswith("Bo came. Dr. No") and first.context[first.answers[0].start :].startswith(
        "Dr. No"
    )


def test_placement_is_checked():
    import pytest

    with pytest.raises(ValueError, match="placement"):
        adversarial(dataset(), placement="middle")
