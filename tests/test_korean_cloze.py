"""The synthetic Korean cloze questions of scripts/korean_cloze.py (a training recipe: its rules are tested
here because a wrong particle or a misplaced answer would teach the default model silently)."""

from __future__ import annotations

import random
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import ROOT


@pytest.fixture(scope="module")
def cloze():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import korean_cloze
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return korean_cloze


class NoDrop(random.Random):
    """A Random that never drops a word (random() is always above DROP_SHARE)."""

    def random(self):
        return 0.99


@pytest.mark.parametrize(
    "word, particle, expected",
    [
        ("누구", "은", "는"),
        ("누구", "이", "가"),
        ("어디", "으로", "로"),
        ("몇 명", "는", "은"),
        ("언제", "의", "의"),
    ],
)
def test_the_particle_agrees_with_the_question_word(cloze, word, particle, expected):
    assert cloze.agreeing_particle(word, particle) == expected


@pytest.mark.parametrize(
    "sentence, question",
    [("태어났다.", "태어났는가?"), ("대통령이다.", "대통령인가?"), ("좋아한다.", "좋아한다?")],
)
def test_question_ending(cloze, sentence, question):
    assert cloze.question_ending(sentence) == question


@pytest.mark.parametrize(
    "sentence, entity, label, question",
    [
        (
            "지미 카터는 조지아주 섬터 카운티 플레인스 마을에서 태어났다.",
            "플레인스 마을",
            "LC",
            "지미 카터는 조지아주 섬터 카운티 어디에서 태어났는가?",
        ),
        ("이순신은 1545년 한성에서 태어났다.", "이순신", "PS", "누구는 1545년 한성에서 태어났는가?"),
        ("이순신은 1545년에 한성에서 태어났다.", "1545년", "DT", "이순신은 언제 한성에서 태어났는가?"),
        ("그 회사는 직원 3명이 세웠다.", "3명", "QT", "그 회사는 직원 몇 명이 세웠는가?"),
        ("그의 고향은 서울이다.", "서울", "LC", "그의 고향은 어디인가?"),
    ],
)
def test_worked_examples(cloze, sentence, entity, label, question):
    start = sentence.index(entity)
    assert cloze.cloze_question(sentence, start, start + len(entity), label, NoDrop()) == question


@pytest.mark.parametrize(
    "sentence, entity",
    [("1970년 브라질이 우승했다.", "1970"), ("그는 서울.", "서울"), ("대서울시가 컸다.", "서울")],
)
def test_no_question_from_a_word_cut_in_two_or_an_entity_that_ends_the_sentence(cloze, sentence, entity):
    start = sentence.index(entity)
    assert cloze.cloze_question(sentence, start, start + len(entity), "LC", NoDrop()) is None


@given(st.integers(0, 10_000))
def test_every_answer_is_at_its_place_in_the_paragraph(cloze, seed):
    paragraph = "가나 대학교는 1946년에 서울에서 문을 열었다. 초대 총장은 김철수 교수였다. 학생은 3천 명이다."
    entities = [
        SimpleNamespace(word=w, start=paragraph.index(w), end=paragraph.index(w) + len(w), label=t, score=0.9)
        for w, t in [("1946년", "DT"), ("서울", "LC"), ("김철수", "PS"), ("가나 대학교", "OG")]
    ]
    qas = cloze.paragraph_questions(paragraph, entities, random.Random(seed), 3, "p")
    assert qas
    for qa in qas:
        answer = qa["answers"][0]
        assert paragraph[answer["answer_start"] :].startswith(answer["text"])
        assert answer["text"] not in qa["question"] and qa["question"].endswith("?")
