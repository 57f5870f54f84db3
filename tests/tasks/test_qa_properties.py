"""Invariants over random Unicode contexts: every answer is exactly the context between its offsets."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit import QAOptions, decode_answers, qa_windows
from bertkit.particles import particle_end

# Hangul syllables and jamo, Latin with combining marks, emoji (outside the BMP), zero-width characters,
# CJK, punctuation and assorted whitespace.
ALPHABET = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),
    st.characters(min_codepoint=0x61, max_codepoint=0x7A),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1F64F),
    st.sampled_from(["\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", " ", "\t", "\n", "\u3000", "\u00a0"]),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),
    st.sampled_from(list(".,!?()《》'\"-")),
)
CONTEXTS = st.text(ALPHABET, min_size=1, max_size=300).filter(lambda s: any(not c.isspace() for c in s))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(context=CONTEXTS, seed=st.integers(0, 2**32 - 1), top_k=st.integers(1, 5))
def test_offsets_slice_the_context(tok_mbert, context, seed, top_k):
    windows = qa_windows(tok_mbert, ["무엇?"], [context], max_length=32, stride=8)
    rng = np.random.default_rng(seed)
    starts = [rng.normal(0, 4, len(ids)) for ids in windows.input_ids]
    ends = [rng.normal(0, 4, len(ids)) for ids in windows.input_ids]
    for answer in decode_answers(starts, ends, windows, [context], top_k=top_k, max_answer_len=8)[0]:
        assert context[answer.start : answer.end] == answer.answer
        assert 0 <= answer.start < answer.end <= len(context)
        assert not answer.answer[0].isspace() and not answer.answer[-1].isspace()
        # The decoder says where the answer came from: its first and last tokens, context tokens of a
        # window of this document whose offsets begin and end the answer (the last one may go on by a
        # Korean particle that was cut off: particles.particle_end).
        w, first, last = answer.window, answer.token_start, answer.token_end
        assert w is not None and first is not None and last is not None and first <= last
        assert windows.context_mask[w][first] and windows.context_mask[w][last]
        token_start, token_end = windows.offsets[w][last]
        assert windows.offsets[w][first][0] == answer.start
        assert answer.end == particle_end(context, answer.start, token_start, token_end)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(context=CONTEXTS)
def test_end_to_end_invariant_with_a_model(tiny_qa, context):
    answers = tiny_qa("무엇?", context, QAOptions(top_k=3, max_length=32, stride=8))
    for answer in answers:
        assert context[answer.start : answer.end] == answer.answer != ""
    spans = [(a.start, a.end) for a in answers]
    assert len(spans) == len(set(spans))
