"""The embedded default models: shipped small and verified, and right on the tutorials' examples."""

from __future__ import annotations

import pytest

from bertkit import default_models
from bertkit.loading import load

PIZZA = "In Italy, pizza served in formal settings, such as at a restaurant, is presented unsliced."
KNIFE = "It is eaten with the use of a knife and fork. In casual settings, however, it is cut into wedges."
SKY = "The sky is blue due to the shorter wavelength of blue light."
STOCKS = "Shares of the company fell by twelve percent after the quarterly report."


@pytest.mark.parametrize("task", ["qa", "ner", "mlm", "nsp"])
def test_every_task_has_a_trained_default_shipped_small(task):
    folder = default_models.shipped(task)
    assert folder is not None
    assert (folder / "delta.safetensors").stat().st_size < 10_000_000
    model = load(None, task)
    assert model.source == "default" and model.notes == []


def test_all_shipped_models_together_stay_small():
    # Each model is held to the issues' 10 MB; together 24 MB since QA and NER both read Korean (each
    # carries its 5,022 Hangul rows, int8: 1.9 MB).
    total = sum(p.stat().st_size for p in default_models.MODELS.rglob("*") if p.is_file())
    assert total < 24_000_000


def test_fill_mask_tutorial_example():
    from bertkit.tasks.fill_mask import FillMask

    words = [f.token_str for f in FillMask()("Soccer is a really fun [MASK].", top_k=5)]
    assert {"sport", "game"} & set(words), words


def test_next_sentence_tutorial_example():
    from bertkit.tasks.nsp import NextSentencePredictor

    predictor = NextSentencePredictor()
    ranked = predictor.rank(PIZZA, [SKY, STOCKS, KNIFE])
    assert ranked[0].text == KNIFE, ranked
    assert predictor(PIZZA, KNIFE) > 0.5 > predictor(PIZZA, SKY)


def test_ner_tutorial_example():
    from bertkit.tasks.ner import EntityTagger

    text = "My name is Sylvain and I work at Hugging Face in Brooklyn."
    found = {(e.label, text[e.start : e.end]) for e in EntityTagger()(text)}
    assert {("PER", "Sylvain"), ("LOC", "Brooklyn")} <= found, found


def test_ner_tutorial_sentence_as_the_course_shows_it():
    from bertkit.tasks.ner import EntityTagger

    text = "My name is Sylvain and I work at Hugging Face in Brooklyn."
    found = [(e.label, e.word, e.start, e.end) for e in EntityTagger()(text)]
    assert found == [("PER", "Sylvain", 11, 18), ("ORG", "Hugging Face", 33, 45), ("LOC", "Brooklyn", 49, 57)]


def test_korean_ner_on_the_bilingual_default_gives_klue_types_at_exact_characters():
    from bertkit.tasks.ner import EntityTagger

    tagger = EntityTagger()
    text = "이순신은 조선 중기의 무신이다."
    assert [(e.label, text[e.start : e.end]) for e in tagger(text)] == [("PS", "이순신")]
    text = "삼성전자는 2023년 3월 서울에서 신제품을 발표했다."
    found = [(e.label, text[e.start : e.end]) for e in tagger(text)]
    assert found == [("OG", "삼성전자"), ("DT", "2023년 3월"), ("LC", "서울")], found


@pytest.mark.parametrize(
    ("question", "context", "answer"),
    [
        ("Where does John live?", "John lives in New York City.", "New York City"),
        # The Korean tutorials' examples, answered by the same bilingual default.
        ("철수는 어디에 삽니까?", "철수는 서울에 삽니다. 영희는 부산에 삽니다.", "서울"),
        # Since run 13 (2026-12-08; the noun cloze questions, docs/korean.md).
        ("고양이가 어디에 앉습니까?", "고양이가 의자에 앉습니다.", "의자"),
    ],
)
def test_qa_tutorial_examples(question, context, answer):
    from bertkit.tasks.qa import QuestionAnswerer

    best = QuestionAnswerer()(question, context)[0]
    assert best.answer == answer == context[best.start : best.end], best


def test_the_default_qa_model_says_it_answers_english_and_korean():
    from bertkit.tasks.qa import QuestionAnswerer

    assert QuestionAnswerer().notes[0] == "model default-qa (bertkit's embedded model, English and Korean)"


def test_the_default_qa_model_reads_hangul_syllables():
    model = load(None, "qa")
    tokens = model.tokenizer.tokenize("철수는 서울에 삽니다.")
    assert tokens == ["철", "##수", "##는", "서", "##울", "##에", "삽", "##니", "##다", "."], tokens
