"""Answers decoded a chunk of windows at a time equal the answers of decoding all windows at once."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit import QAOptions, decode_answers, qa_windows
from bertkit.tasks.qa_merge import AnswerMerge
from bertkit.tasks.qa_stream import slice_windows

CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. 이순신은 1545년 서울 건천동에서 태어났다. They were descended from Norse raiders and pirates. "
) * 8
QUESTIONS = ["Who gave their name to Normandy?", "Where?", "When was he born?"]
CONTEXTS = [CONTEXT, "The Normans lived in Normandy.", CONTEXT[:900]]


def where(answers):
    """What must be equal: each answer and where it was found (window row and tokens)."""
    return [
        [(a.answer, a.start, a.end, a.window, a.token_start, a.token_end) for a in doc] for doc in answers
    ]


def scores(answers):
    return [a.score for doc in answers for a in doc]


def merged(windows, starts, ends, chunk, **settings):
    merge = AnswerMerge(CONTEXTS, **settings)
    for row in range(0, len(windows), chunk):
        rows = slice(row, row + chunk)
        merge.add(slice_windows(windows, row, row + chunk), starts[rows], ends[rows], row)
    return merge.answers()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("scoring", ["odds", "pipeline"])
def test_merged_chunks_equal_one_decoding(tok_uncased, scoring, seed):
    rng = np.random.default_rng(seed)
    windows = qa_windows(tok_uncased, QUESTIONS, CONTEXTS, max_length=48, stride=16)
    assert len(windows) > 30
    # Wide logits: confident windows, and empty answers that rank among the top 3 in some documents.
    starts = [rng.normal(0, 4, len(ids)) for ids in windows.input_ids]
    ends = [rng.normal(0, 4, len(ids)) for ids in windows.input_ids]
    settings = dict(
        top_k=3,
        max_answer_len=int(rng.integers(1, 12)),
        handle_impossible_answer=bool(seed % 2),
        null_threshold=float(rng.normal(0, 0.2)),
        scoring=scoring,
    )
    at_once = decode_answers(starts, ends, windows, CONTEXTS, **settings)
    for chunk in (1, 4, 7, len(windows)):
        got = merged(windows, starts, ends, chunk, **settings)
        assert where(got) == where(at_once)
        assert scores(got) == pytest.approx(scores(at_once), rel=1e-12, abs=1e-300)


def test_empty_answers_merge_as_at_once(tok_uncased):
    """A null that wins in one window: the empty answer's score ("odds": 1 - the best span's odds share;
    "pipeline": the lowest null of the windows) comes out the same."""
    windows = qa_windows(tok_uncased, QUESTIONS, CONTEXTS, max_length=48, stride=16)
    starts = [np.zeros(len(ids)) for ids in windows.input_ids]
    ends = [np.zeros(len(ids)) for ids in windows.input_ids]
    for w in range(len(windows)):
        starts[w][windows.cls_index[w]] = ends[w][windows.cls_index[w]] = 4.0 if w % 3 else -2.0
    for scoring in ("odds", "pipeline"):
        settings = dict(top_k=2, max_answer_len=5, handle_impossible_answer=True, null_threshold=0.0)
        at_once = decode_answers(starts, ends, windows, CONTEXTS, scoring=scoring, **settings)
        got = merged(windows, starts, ends, 5, scoring=scoring, **settings)
        assert where(got) == where(at_once) and any(a.answer == "" for doc in got for a in doc)
        assert scores(got) == pytest.approx(scores(at_once), rel=1e-12)


@pytest.mark.parametrize("scoring", ["odds", "pipeline"])
def test_answer_many_in_chunks_equals_at_once(tiny_qa, monkeypatch, scoring):
    """End to end with the tiny model: many windows run and decoded 3 at a time give the answers of one go
    (the scores differ only as the model's float sums do between batches of other sizes)."""
    options = QAOptions(top_k=3, max_length=48, stride=16, scoring=scoring)
    at_once = tiny_qa.answer_many(QUESTIONS, CONTEXTS, options)
    monkeypatch.setattr(tiny_qa, "windows_per_chunk", 3)
    seen = tiny_qa.windows_seen
    chunked = tiny_qa.answer_many(QUESTIONS, CONTEXTS, options)
    assert tiny_qa.windows_seen - seen > 30
    assert where(chunked) == where(at_once)
    assert scores(chunked) == pytest.approx(scores(at_once), rel=1e-5)
