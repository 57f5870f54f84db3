"""The tokenization picture: token boxes of every window."""

from __future__ import annotations

from bertkit import viz

from .rendering import KOREAN_CONTEXT, KOREAN_QUESTION, render_both


def test_tokens_figure_from_inspect(tok_mbert, tmp_path):
    from bertkit import token_table

    windows = token_table(tok_mbert, KOREAN_QUESTION, KOREAN_CONTEXT, max_length=24, stride=4)
    assert len(windows) > 1
    render_both(viz.tokens_figure(windows), tmp_path, "tokenize")
