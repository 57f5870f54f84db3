"""Fonts (Hangul drawn with a CJK font) and saving figures as PNG or SVG."""

from __future__ import annotations

import pytest

from bertkit import viz
from bertkit.errors import InputError

from .rendering import render_both


def test_a_cjk_font_is_selected():
    assert viz.has_cjk_font(), "install fonts-noto-cjk (make install does): Hangul would render as boxes"
    assert "CJK" in viz.font_families()[1] or "KR" in viz.font_families()[1]


def test_hangul_is_drawn_with_the_cjk_font(tmp_path):
    from matplotlib.font_manager import FontProperties, fontManager

    cjk = fontManager.findfont(FontProperties(family=viz.font_families()[1]), fallback_to_default=False)
    assert "CJK" in cjk or "KR" in cjk or "Nanum" in cjk
    fig = viz.entities_figure(
        "서울 한국어 텍스트", [{"entity_group": "LOC", "start": 0, "end": 2, "score": 0.9}]
    )
    render_both(fig, tmp_path, "hangul")


def test_unknown_extension_is_an_input_error(tmp_path):
    fig = viz.attends_to_figure(["a"], [1.0])
    with pytest.raises(InputError, match=".png or .svg"):
        viz.save(fig, tmp_path / "x.pdf")
    assert viz.to_bytes(fig, "svg").startswith(b"<?xml")
    with pytest.raises(InputError):
        viz.to_bytes(fig, "gif")
