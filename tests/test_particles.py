"""The particle rule: a particle glued inside the last token of a span is cut off; whole words are not."""

from __future__ import annotations

import pytest

from bertkit.particles import agrees, particle_end, whole_words


def end_of(context: str, answer_with_tail: str, token: str) -> str:
    """Decode the span that ends on `token`, the last token of `answer_with_tail` in `context`."""
    start = context.index(answer_with_tail)
    token_end = start + len(answer_with_tail)
    return context[start : particle_end(context, start, token_end - len(token), token_end)]


@pytest.mark.parametrize(
    ("context", "span", "token", "expected"),
    [
        ("그는 정육점을 운영했다.", "정육점을", "점을", "정육점"),  # the example: ##점을
        ("홍가권을 만났다.", "홍가권을", "권을", "홍가권"),
        ("그는 서울에서 태어났다.", "서울에서", "울에서", "서울"),
        ("민주당에서는 반대했다.", "민주당에서는", "당에서는", "민주당"),
        ("부산으로 갔다.", "부산으로", "산으로", "부산"),
        ("서울로 갔다.", "서울로", "울로", "서울"),  # 로 follows ㄹ
        ("1990년에 태어났다.", "1990년에", "0년에", "1990년"),
        (
            "ABC방송사에서 일했다.",
            "ABC방송사에",
            "사에",
            "ABC방송사",
        ),  # ##사에 ##서: the particle 에서 runs on
        ("서울에서 태어났다.", "서울에", "울에", "서울"),
    ],
)
def test_glued_particles_are_cut(context, span, token, expected):
    assert end_of(context, span, token) == expected


@pytest.mark.parametrize(
    ("context", "span", "token"),
    [
        ("고양이 한 마리가 있다.", "고양이", "양이"),  # 고양이 is a word (the lexicon), not 고양 + 이
        ("민주주의 국가", "민주주의", "주의"),  # -ism, not 민주주 + 의
        ("철도 노선", "철도", "철도"),
        ("작은 마을 하나", "마을", "마을"),  # 을 never follows a vowel: 마 + 을 is impossible
        ("국가 대표", "국가", "국가"),  # 가 never follows a final consonant
        ("가을 하늘", "가을", "가을"),
        ("서울시청에 갔다.", "서울시", "울시"),  # the word goes on, and 청에 is no particle
        ("철수는 서울에 삽니다.", "에", "에"),  # a token that is only the particle is not cut
    ],
)
def test_whole_words_and_impossible_particles_are_kept(context, span, token):
    assert end_of(context, span, token) == span


def test_a_cut_never_empties_the_span():
    assert particle_end("을", 0, 0, 1) == 1
    assert particle_end("그 점을 보라", 2, 2, 4) == 3  # 점 + 을: one syllable is left


def test_agreement_and_lexicon():
    assert agrees("점", "을") and not agrees("마", "을") and agrees("마", "를") and not agrees("점", "를")
    assert agrees("A", "을")  # after Latin letters or digits any particle may follow
    words = whole_words()
    assert {"고양이", "민주주의", "철도"} <= words and "정육점을" not in words


def test_mbert_tokens_of_korquad_style_answers(tok_mbert):
    context = "철수는 동네 정육점을 운영하던 홍가권을 만났다."
    encoding = tok_mbert(context, return_offsets_mapping=True, add_special_tokens=False)
    offsets = encoding["offset_mapping"]
    for gold in ("정육점", "홍가권"):
        start = context.index(gold)
        end_token = next(o for o in offsets if o[0] < start + len(gold) <= o[1])
        assert end_token[1] > start + len(gold)  # mBERT glues the particle into the last token
        assert context[start : particle_end(context, start, *end_token)] == gold
