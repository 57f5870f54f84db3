"""The decoders' shared pieces: one softmax, the max-context rule, span trimming."""

from __future__ import annotations

import numpy as np

from bertkit.decoding import max_context_score, softmax, strip_span, token_context_scores


def test_softmax_keeps_the_asked_precision_and_gives_padding_nothing():
    logits = np.array([[1.0, 2.0, -np.inf], [0.0, 0.0, 0.0]])
    probs = softmax(logits)
    assert probs.dtype == np.float64 and probs[0, 2] == 0.0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert softmax(logits, np.float32).dtype == np.float32


def test_max_context_rule_of_run_squad():
    # Windows of context tokens c0..c6 and c5..c11, the token c6: window 2 centres it better.
    assert max_context_score(6, 0, 7) < max_context_score(1, 5, 7)
    assert np.isclose(max_context_score(1, 5, 7), 1.07)
    local, score = token_context_scores(np.array([7, 7]))
    assert score[6] < score[7 + 1]  # c6 is the last token of window 1 and the second of window 2


def test_strip_span_drops_surrounding_whitespace_only():
    text = " New York  City \n"
    assert strip_span(text, 0, len(text)) == (1, 15)
    assert strip_span("   ", 0, 3) == (3, 3)
