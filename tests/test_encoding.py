"""Golden tokenization: ids, sequence ids, word ids and offsets printed in the public tutorials."""

from __future__ import annotations

import re

import pytest

from bertkit import InputError, qa_windows, token_table
from bertkit.encoding import INSPECT_KEYS


def test_john_pair_uncased(tok_uncased):
    (window,) = token_table(tok_uncased, "Where does John live?", "John lives in New York City.")
    assert window["input_ids"] == [
        101,
        2073,
        2515,
        2198,
        2444,
        1029,
        102,
        2198,
        3268,
        1999,
        2047,
        2259,
        2103,
        1012,
        102,
    ]
    assert window["token_type_ids"] == [0] * 7 + [1] * 8
    assert window["sequence_ids"] == [None, 0, 0, 0, 0, 0, None, 1, 1, 1, 1, 1, 1, 1, None]
    assert window["tokens"][7:14] == ["john", "lives", "in", "new", "york", "city", "."]
    context = "John lives in New York City."
    spans = [context[s:e] for s, e in window["offset_mapping"][7:14]]
    assert spans == ["John", "lives", "in", "New", "York", "City", "."]
    assert list(window) == list(INSPECT_KEYS)


def test_sylvain_cased(tok_cased):
    text = "My name is Sylvain and I work at Hugging Face in Brooklyn."
    (window,) = token_table(tok_cased, text)
    assert window["input_ids"] == [
        101, 1422, 1271, 1110, 156, 7777, 2497, 1394, 1105, 146, 1250, 1120, 20164, 10932, 10289, 1107, 6010, 119, 102
    ]  # fmt: skip
    assert window["tokens"] == [
        "[CLS]", "My", "name", "is", "S", "##yl", "##va", "##in", "and", "I", "work", "at", "Hu", "##gging",
        "Face", "in", "Brooklyn", ".", "[SEP]",
    ]  # fmt: skip
    assert window["word_ids"] == [None, 0, 1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, None]
    # The course: encoding.word_to_chars(3) -> (11, 18), "Sylvain".
    sylvain = [window["offset_mapping"][i] for i, w in enumerate(window["word_ids"]) if w == 3]
    assert (sylvain[0][0], sylvain[-1][1]) == (11, 18)
    assert text[11:18] == "Sylvain"


def test_korean_pair_mbert(tok_mbert):
    question, context = "고양이가 어디에 앉습니까?", "고양이가 의자에 앉습니다."
    (window,) = token_table(tok_mbert, question, context)
    assert window["input_ids"] == [
        101, 8888, 37114, 57362, 9546, 48446, 10530, 9522, 119081, 25503, 118671, 136, 102,
        8888, 37114, 57362, 9637, 13764, 10530, 9522, 119081, 48345, 119, 102,
    ]  # fmt: skip
    # Every context token maps back to exactly its Hangul characters.
    for token, seq, (s, e) in zip(
        window["tokens"], window["sequence_ids"], window["offset_mapping"], strict=True
    ):
        if seq == 1:
            assert context[s:e] == token.removeprefix("##")


def test_overflow_windows_course_example(tok_cased):
    # The course's example: max_length=6, stride=2 splits the sentence into 7 windows.
    sentence = "This sentence is not too long but we are going to split it anyway."
    windows = token_table(tok_cased, sentence, max_length=6, stride=2)
    decoded = [tok_cased.decode(w["input_ids"]) for w in windows]
    assert decoded == [
        "[CLS] This sentence is not [SEP]",
        "[CLS] is not too long [SEP]",
        "[CLS] too long but we [SEP]",
        "[CLS] but we are going [SEP]",
        "[CLS] are going to split [SEP]",
        "[CLS] to split it anyway [SEP]",
        "[CLS] it anyway. [SEP]",
    ]


def test_pair_windows_share_stride_tokens(tok_uncased):
    context = " ".join(f"word{i}" for i in range(300))
    windows = token_table(tok_uncased, "Which word?", context, max_length=64, stride=16)
    assert len(windows) > 3
    for a, b in zip(windows, windows[1:], strict=False):
        ctx_a = [o for o, s in zip(a["offset_mapping"], a["sequence_ids"], strict=False) if s == 1]
        ctx_b = [o for o, s in zip(b["offset_mapping"], b["sequence_ids"], strict=False) if s == 1]
        assert ctx_a[-16:] == ctx_b[:16]
        assert all(len(w["input_ids"]) <= 64 for w in (a, b))
        assert a["input_ids"][:5] == b["input_ids"][:5]  # the question is repeated in every window


def test_qa_windows_map_to_documents(tok_uncased):
    long_context = "Paris is the capital of France. " * 80
    w = qa_windows(
        tok_uncased, ["What is the capital?", "Where?"], [long_context, "Here."], max_length=64, stride=16
    )
    assert w.sample.tolist() == sorted(w.sample.tolist())
    assert w.sample[-1] == 1 and (w.sample == 0).sum() > 5
    for ids, mask, cls in zip(w.input_ids, w.context_mask, w.cls_index, strict=True):
        assert ids[cls] == tok_uncased.cls_token_id
        assert mask.sum() > 0 and not mask[cls]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_length=64, stride=64), "stride (64) must be smaller than max_length (64)"),
        (dict(max_length=8, stride=0), "too small for the question"),
        (dict(max_length=12, stride=5), "stride 5 is too large"),
        (dict(max_length=1000, stride=0), "exceeds the model's limit of 512"),
    ],
)
def test_window_errors(tok_uncased, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        qa_windows(tok_uncased, ["Where does John live?"], ["John lives in New York City."], **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(max_length=2),
            "max_length 2 leaves no room for text after 2 special tokens: use max_length >= 3",
        ),
        (dict(max_length=True), "max_length must be an integer >= 2, got True"),
        (dict(max_length=8, stride=1.5), "stride must be an integer >= 0, got 1.5"),
    ],
)
def test_text_window_errors(tok_uncased, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        token_table(tok_uncased, "a b c", **kwargs)


def test_a_lone_surrogate_is_refused_before_the_tokenizer_sees_it(tok_uncased):
    with pytest.raises(InputError, match="context is not valid Unicode: character 5 is a lone surrogate"):
        qa_windows(tok_uncased, ["Who?"], ["John \ud800"])
    with pytest.raises(InputError, match="pair is not valid Unicode"):
        token_table(tok_uncased, "a", "\udcff")


@pytest.mark.parametrize("question, context", [("", "text"), ("q?", "   "), (None, "text")])
def test_empty_or_wrong_type(tok_uncased, question, context):
    with pytest.raises(InputError):
        qa_windows(tok_uncased, [question], [context])
