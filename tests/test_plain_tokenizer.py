"""PlainTokenizer gives what transformers' fast tokenizer gives for every call bertkit makes of it."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from bertkit.hangul import as_transformers, minilm_hangul_exact
from bertkit.loading import minilm_dir
from bertkit.plain_tokenizer import PlainTokenizer

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "New",
    "York",
    "don't",
    "café",
    "Ünïcode",
    "1,234.5",
    "?",
    "!",
    "철수는",
    "서울에",
    "삽니다",
    "고양이가",
    "의자에",
    "똠방각하",
    "東京",
    "[MASK]",
    "\n",
    "  ",
    "antidisestablish",
]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=60).map(" ".join)


def pairs():
    from transformers import AutoTokenizer

    _, grown = minilm_hangul_exact()
    return {
        "minilm": (
            PlainTokenizer(Tokenizer.from_file(str(minilm_dir() / "tokenizer.json")), lambda: None),
            AutoTokenizer.from_pretrained(minilm_dir()),
        ),
        "hangul": (PlainTokenizer(Tokenizer.from_str(grown.to_str()), lambda: None), as_transformers(grown)),
    }


PAIRS = pairs()


def same(ours, theirs):
    assert {k: ours[k] for k in ours} == {k: theirs[k] for k in ours}
    assert set(theirs) - set(ours) <= {"special_tokens_mask"}
    assert [e.ids for e in ours.encodings] == [e.ids for e in theirs.encodings]
    assert [e.offsets for e in ours.encodings] == [e.offsets for e in theirs.encodings]
    assert [e.sequence_ids for e in ours.encodings] == [e.sequence_ids for e in theirs.encodings]
    assert [e.word_ids for e in ours.encodings] == [e.word_ids for e in theirs.encodings]


@pytest.mark.parametrize("name", sorted(PAIRS))
@settings(max_examples=40, deadline=None)
@given(
    questions=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join), min_size=1, max_size=3
    ),
    contexts=st.lists(texts, min_size=3, max_size=3),
    max_length=st.integers(24, 64),
    stride=st.integers(0, 8),
)
def test_windows_are_the_same(name, questions, contexts, max_length, stride):
    ours, theirs = PAIRS[name]
    contexts = contexts[: len(questions)]
    kw = dict(
        max_length=max_length, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True
    )
    longest = max(len(ids) for ids in ours(questions, add_special_tokens=False)["input_ids"])
    assume(max_length - longest - 3 > stride)  # the question leaves room (bertkit's check_window)
    same(
        ours(questions, contexts, truncation="only_second", **kw),
        theirs(questions, contexts, truncation="only_second", **kw),
    )
    same(ours(contexts, truncation=True, **kw), theirs(contexts, truncation=True, **kw))
    same(
        ours(contexts[0], questions[0], truncation="longest_first", max_length=max_length),
        theirs(contexts[0], questions[0], truncation="longest_first", max_length=max_length),
    )


@pytest.mark.parametrize("name", sorted(PAIRS))
@settings(max_examples=30, deadline=None)
@given(batch=st.lists(texts, min_size=1, max_size=4))
def test_plain_calls_and_decoding_are_the_same(name, batch):
    ours, theirs = PAIRS[name]
    same(
        ours(batch, add_special_tokens=False, truncation=False),
        theirs(batch, add_special_tokens=False, truncation=False),
    )
    same(ours(batch, return_offsets_mapping=True), theirs(batch, return_offsets_mapping=True))
    single_ours, single_theirs = (
        ours(batch[0], return_offsets_mapping=True),
        theirs(batch[0], return_offsets_mapping=True),
    )
    same(single_ours, single_theirs)
    ids = single_ours["input_ids"]
    assert ours.decode(ids) == theirs.decode(ids)
    assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)
    assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_attributes_are_the_same(name):
    ours, theirs = PAIRS[name]
    for attr in (
        "cls_token_id",
        "sep_token_id",
        "pad_token_id",
        "mask_token_id",
        "unk_token_id",
        "mask_token",
        "padding_side",
        "model_input_names",
        "model_max_length",
    ):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert sorted(ours.all_special_ids) == sorted(theirs.all_special_ids)
    assert ours.num_special_tokens_to_add(pair=True) == theirs.num_special_tokens_to_add(pair=True) == 3
    assert len(ours) == len(theirs)


def test_anything_else_goes_to_transformers(tmp_path):
    from bertkit.plain_tokenizer import minilm_tokenizer

    tokenizer = minilm_tokenizer()
    batch = tokenizer(["a b", "a"], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 4)
    assert tokenizer.tokenize("Hello world") == ["hello", "world"]
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()


def test_threads_sharing_one_tokenizer_each_get_their_own_truncation():
    """The server's workers share the default tokenizer: a call without truncation running beside one with
    it must not turn the other's truncation off (the backend's truncation is set per call)."""
    from concurrent.futures import ThreadPoolExecutor

    from bertkit.plain_tokenizer import minilm_tokenizer

    tokenizer = minilm_tokenizer()
    long_text = " ".join(["word"] * 1000)

    def windows(_):
        out = tokenizer([long_text], truncation=True, max_length=64, stride=8, return_overflowing_tokens=True)
        return max(len(ids) for ids in out["input_ids"])

    def whole(_):
        return len(tokenizer(long_text)["input_ids"])

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: windows(i) if i % 2 else whole(i), range(64)))
    assert all(n <= 64 for n in got[1::2]) and all(n == 1002 for n in got[0::2])
