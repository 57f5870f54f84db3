"""Windows made a chunk at a time, long contexts tokenized in pieces: the same windows as `qa_windows`."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit import InputError, qa_windows
from bertkit.tasks.qa_stream import WindowStream, concat_windows, piece_end, window_tokens

MIXED = (
    "John lives in New York City.  He works as a carpenter in Brooklyn. 이순신은 1545년 서울 건천동에서 "
    "태어났다. Ünïcödé e\u0301 and 👩\u200d💻, 中文字符, a [SEP] token;\n\tnew   lines. "
) * 25
NO_SPACES = "abc,def;" * 300 + "x" * 3000  # punctuation, then a run that must be cut anywhere


def same_windows(got, want):
    assert len(got) == len(want)
    for name in ("input_ids", "token_type_ids", "offsets", "context_mask"):
        ours, theirs = getattr(got, name), getattr(want, name)
        assert (ours is None) == (theirs is None)
        for a, b in zip(ours or (), theirs or (), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.cls_index, want.cls_index)
    np.testing.assert_array_equal(got.sample, want.sample)


def all_windows(stream, **limits):
    parts = []
    while (windows := stream.take(**limits)) is not None:
        parts.append(windows)
    return concat_windows(parts)


@pytest.mark.parametrize("name", ["tok_uncased", "tok_cased", "tok_mbert"])
@pytest.mark.parametrize("max_length, stride", [(32, 8), (64, 16), (384, 128)])
def test_streamed_windows_equal_qa_windows(request, name, max_length, stride):
    tokenizer = request.getfixturevalue(name)
    questions = ["Where does John live?", "누가?", "What?", "Who?"]
    contexts = [MIXED, "A short one.", MIXED[:700], "\x00" * 900]  # the last has no token at all
    want = qa_windows(tokenizer, questions, contexts, max_length, stride)
    stream = WindowStream(tokenizer, questions, contexts, max_length, stride, long_chars=600)
    same_windows(all_windows(stream, max_windows=5), want)


def test_a_run_without_spaces_is_cut_after_punctuation(tok_uncased):
    assert NO_SPACES[piece_end(NO_SPACES, 0, 1001) - 1] in ",;"
    assert piece_end(NO_SPACES, 2400, 1000) == 3400  # no punctuation either: cut at the limit
    want = qa_windows(tok_uncased, ["Who?"], [NO_SPACES[:2400]], 32, 8)
    same_windows(
        all_windows(WindowStream(tok_uncased, ["Who?"], [NO_SPACES[:2400]], 32, 8, long_chars=500)), want
    )


def test_take_keeps_to_its_limits(tok_uncased):
    stream = WindowStream(tok_uncased, ["Who?"] * 3, [MIXED, "short", MIXED], 64, 16, long_chars=800)
    total = stream.remaining_tokens()
    first = stream.take(max_windows=4)
    assert len(first) == 4 and stream.taken == 4
    assert len(stream.take(max_tokens=1)) == 1  # at least one window
    assert window_tokens(stream.take(max_tokens=200)) <= 200
    while not stream.exhausted:
        stream.take(max_windows=50)
    assert stream.take() is None and stream.remaining_tokens() == 0 < total


def test_inputs_are_checked_before_any_work(tok_uncased):
    with pytest.raises(InputError, match="context is empty"):
        WindowStream(tok_uncased, ["Who?", "Who?"], [MIXED, "  "], 64, 16)
    with pytest.raises(InputError, match="too small for the question"):
        WindowStream(tok_uncased, ["why " * 80, "Who?"], ["x", "y"], 64, 16)
