"""Hand-made `QuestionAnswerer.explain` results, and the check that a figure renders to PNG and SVG."""

from __future__ import annotations

import warnings

import numpy as np

from bertkit import viz

KOREAN_CONTEXT = "이순신은 1545년 서울 건천동에서 태어났다. 그는 조선 중기의 무신이었다."
KOREAN_QUESTION = "이순신은 어디에서 태어났나요?"


def explained_of(tokens_q: list[str], tokens_c: list[str], answer: tuple[int, int] | None) -> dict:
    """A hand-made `QuestionAnswerer.explain` result (one window) with the answer on context tokens
    `answer` = (first, last), counted from the first context token."""
    tokens = ["[CLS]", *tokens_q, "[SEP]", *tokens_c, "[SEP]"]
    segments = (
        ["special"] + ["question"] * len(tokens_q) + ["special"] + ["context"] * len(tokens_c) + ["special"]
    )
    offsets, pos = [], 0
    for seg, tok in zip(segments, tokens, strict=True):
        if seg == "context":
            offsets.append([pos, pos + len(tok)])
            pos += len(tok) + 1
        else:
            offsets.append([0, 0])
    n = len(tokens)
    p_start, p_end = np.full(n, 0.01), np.full(n, 0.01)
    answers, locations = [], []
    if answer is not None:
        first = len(tokens_q) + 2
        s, e = first + answer[0], first + answer[1]
        p_start[s], p_end[e] = 0.8, 0.7
        start, end = offsets[s][0], offsets[e][1]
        context = " ".join(tokens_c)
        answers = [{"answer": context[start:end], "start": start, "end": end, "score": 0.56}]
        locations = [{"window": 0, "token_start": s, "token_end": e}]
    return {
        "answers": answers,
        "locations": locations,
        "windows": [
            {
                "tokens": tokens,
                "segments": segments,
                "offsets": offsets,
                "p_start": (p_start / p_start.sum()).tolist(),
                "p_end": (p_end / p_end.sum()).tolist(),
            }
        ],
    }


def render_both(fig, tmp_path, name: str) -> None:
    """PNG and SVG files of the figure, without any missing-glyph warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        png = viz.save(fig, tmp_path / f"{name}.png")
        svg = viz.save(fig, tmp_path / f"{name}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and "</svg>" in text
