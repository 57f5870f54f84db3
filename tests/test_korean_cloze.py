"""The synthetic Korean cloze questions of scripts/korean_cloze.py (a training recipe: its rules are tested
here because a wrong particle or a misplaced answer would teach the default model silently)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import import_script


@pytest.fixture(scope="module")
def cloze():
    return import_script("korean_cloze")


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


@pytest.mark.parametrize(
    "sentence, nouns, questions",
    [
        ("고양이가 의자에 앉았다.", [("의자", "PLACE")], ["고양이가 어디에 앉았는가?"]),
        (
            "회사는 공장에서 자동차를 생산한다.",
            [("공장", "PLACE"), ("자동차", "OBJ")],
            ["회사는 어디에서 자동차를 생산한다?", "회사는 공장에서 무엇을 생산한다?"],
        ),
        ("그는 1945년에 서울에서 태어났다.", [("서울", "PLACE")], ["그는 1945년에 어디에서 태어났는가?"]),
    ],
)
def test_common_noun_questions(cloze, sentence, nouns, questions):
    found = cloze.noun_candidates(sentence, 0, len(sentence), [])
    assert [(n.word, n.label) for n in found] == nouns
    assert [cloze.cloze_question(sentence, n.start, n.end, n.label, NoDrop()) for n in found] == questions


@pytest.mark.parametrize(
    "sentence",
    [
        "정부는 이 문제에 대해 발표했다.",  # 에 대해: grammar
        "그는 그것을 만들었을 것이다.",  # 그것: a pronoun; 만들었을: a verb
        "비가 왔기 때문에 취소되었다.",  # 때문에
        "그 해 3월에 열렸다.",  # a time
        "이순신은 한성에서 태어났다.",  # 한성 is a tagged entity (below)
        "그는 가을에 서울로 돌아왔다.",  # a season: a time, not a place
        "그것이 옳았음을 밝혔다.",  # 옳았음: a verb made a noun
        "일제 통치하에 있었다.",  # 통치하에: "under", not a place
    ],
)
def test_no_common_noun_question_from_grammar_pronouns_verbs_times_or_entities(cloze, sentence):
    entities = (
        [SimpleNamespace(word="한성", start=4, end=6, label="LC", score=0.9)] if "한성" in sentence else []
    )
    assert cloze.noun_candidates(sentence, 0, len(sentence), entities) == []


@given(st.integers(0, 10_000))
def test_noun_questions_keep_the_answer_at_its_place(cloze, seed):
    paragraph = (
        "그 공장은 1990년에 처음으로 정문을 열었다. 그 회사는 오늘도 공장에서 자동차를 생산한다. "
        "작은 고양이가 조용히 의자에 앉았다."
    )
    qas = cloze.paragraph_questions(paragraph, [], random.Random(seed), 3, "p", noun_share=0.5)
    assert qas
    for qa in qas:
        answer = qa["answers"][0]
        assert paragraph[answer["answer_start"] :].startswith(answer["text"])
        assert answer["text"] not in qa["question"] and ("무엇" in qa["question"] or "어디" in qa["question"])
