"""Attention maps and the bars of what one word attends to."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit import viz
from bertkit.errors import InputError

from .rendering import render_both


def test_attention_figures(tmp_path):
    tokens = ["[CLS]", "나는", "사과", "를", "먹었다", "apple", "[SEP]"]
    rng = np.random.default_rng(0)
    weights = rng.random((3, 4, len(tokens), len(tokens)))
    weights /= weights.sum(-1, keepdims=True)
    render_both(viz.attention_figure(weights, tokens, layer=-1, head=2), tmp_path, "attention")
    render_both(viz.attention_figure(weights[0, 0], tokens), tmp_path, "one-map")
    fig = viz.attends_to_figure(tokens, weights[-1].mean(0)[2], word="사과", highlight=[2])
    render_both(fig, tmp_path, "attends")
    many = [f"t{i}" for i in range(200)]
    fig = viz.attends_to_figure(many, rng.random(200), max_tokens=30)
    assert len(fig.axes[0].get_yticklabels()) == 30
    with pytest.raises(InputError, match="tokens but"):
        viz.attention_figure(weights, tokens[:-1])
    with pytest.raises(InputError, match="do not exist"):
        viz.attention_figure(weights, tokens, layer=3)
