"""QA pictures, drawn from `QuestionAnswerer.explain`: a window's tokens by segment with the answer outlined,
start/end probability bars, and both in one figure.

The answer's window and tokens are the decoder's (`explained["locations"]`), not searched for again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import InputError
from .layout import TokenBlock, TokenBoxLayout
from .style import ANSWER_COLOR, DPI, END_COLOR, START_COLOR, finish, shown_token, style
from .token_boxes import capped, draw_token_blocks

MAX_WINDOW_TOKENS = 1024  # a QA window drawn as boxes (models take 512 at most; more is unreadable)
QA_LEGEND = ("question", "context", "special")
BARS_HEIGHT = 5.2  # inches


def answer_location(explained: dict[str, Any], rank: int = 0) -> tuple[int, int, int] | None:
    """(window, first token, last token) of the rank-th answer of `QuestionAnswerer.explain`, where the
    decoder found it; None when there is no such answer or it is the empty answer."""
    locations = explained.get("locations") or []
    if rank >= len(locations) or locations[rank] is None:
        return None
    where = locations[rank]
    return int(where["window"]), int(where["token_start"]), int(where["token_end"])


def _chosen_window(explained: dict[str, Any], window: int | None) -> tuple[int, tuple[int, int] | None]:
    """The window to draw (given, else the best answer's, else the first) and the answer's tokens in it."""
    if not explained.get("windows"):
        raise InputError("nothing to draw: the explanation has no windows")
    location = answer_location(explained)
    n = len(explained["windows"])
    if window is None:
        window = location[0] if location else 0
    if not -n <= window < n:
        raise InputError(f"window {window} does not exist: there are {n} windows")
    window %= n
    span = (location[1], location[2]) if location and location[0] == window else None
    return window, span


def _answer_title(explained: dict[str, Any]) -> str:
    answers = explained.get("answers") or []
    if not answers:
        return "no answer"
    best = answers[0]
    text = best["answer"] or "(no answer)"
    if len(text) > 60:
        text = text[:57] + "…"
    return f"answer: {text!r}  score {best['score']:.3f}"


def _window_heading(explained: dict[str, Any], w: int) -> str:
    """ "window 2 of 3" ("" when there is only one)."""
    n = len(explained["windows"])
    return f"window {w + 1} of {n}" if n > 1 else ""


def _qa_blocks(explained: dict[str, Any], window: int | None) -> tuple[list[TokenBlock], str]:
    w, span = _chosen_window(explained, window)
    data = explained["windows"][w]
    outlined = [span is not None and span[0] <= i <= span[1] for i in range(len(data["tokens"]))]
    block = TokenBlock(_window_heading(explained, w), data["tokens"], data["segments"], outlined)
    return capped([block], MAX_WINDOW_TOKENS), _answer_title(explained)


def token_segments_figure(
    explained: dict[str, Any], window: int | None = None, width: float = 12.0, path: str | Path | None = None
) -> Figure:
    """Tokens of one QA window coloured by segment (question, context, special), the answer outlined.

    Args:
        explained: the output of `QuestionAnswerer.explain`.
        window: which window (default: the one the best answer was decoded from).
        width: figure width in inches; long windows wrap into more rows.
        path: also save the figure there (.png or .svg).
    """
    with style():
        width_px = width * DPI
        blocks, title = _qa_blocks(explained, window)
        fig = Figure(figsize=(width, TokenBoxLayout(width_px).height(blocks) / DPI), dpi=DPI)
        draw_token_blocks(fig, blocks, title, width_px, QA_LEGEND)
        return finish(fig, path)


def _region(n: int, span: tuple[int, int] | None, focus: int, max_tokens: int) -> tuple[int, int]:
    """[lo, hi) of at most max_tokens positions, centred on the answer span (or on `focus`)."""
    if n <= max_tokens:
        return 0, n
    centre = (span[0] + span[1]) // 2 if span else focus
    lo = max(0, min(centre - max_tokens // 2, n - max_tokens))
    return lo, lo + max_tokens


def _draw_bars(
    ax: Any,
    probs: np.ndarray,
    x: np.ndarray,
    in_context: np.ndarray,
    color: str,
    span: tuple[int, int] | None,
    side: int,
) -> None:
    """One row of bars over positions x: context tokens in `color`, the others grey; the answer's span
    shaded and its bar red: `span[side]`, the first token (side 0) for p(start), the last for p(end)."""
    ax.bar(x, probs[x], color=np.where(in_context, color, "#bbbbbb").tolist(), width=0.8)
    if span is not None:
        ax.axvspan(span[0] - 0.5, span[1] + 0.5, color=ANSWER_COLOR, alpha=0.12, lw=0)
        mark = span[side]
        ax.bar([mark], [probs[mark]], color=ANSWER_COLOR, width=0.8)
        ax.annotate(
            f"{probs[mark]:.2f}",
            (mark, probs[mark]),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize=8,
            color=ANSWER_COLOR,
        )
    ax.set_ylim(0, max(1e-6, float(probs[x].max())) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)


def _bars_on(
    fig: Any, explained: dict[str, Any], window: int | None, max_tokens: int, with_answer: bool = True
) -> None:
    w, span = _chosen_window(explained, window)
    data = explained["windows"][w]
    n = len(data["tokens"])
    p_start, p_end = np.asarray(data["p_start"]), np.asarray(data["p_end"])
    lo, hi = _region(n, span, int(np.argmax(p_start)), max_tokens)
    x = np.arange(lo, hi)
    axes = fig.subplots(2, 1, sharex=True)
    in_context = np.array([s == "context" for s in data["segments"]])[lo:hi]
    rows = ((axes[0], p_start, START_COLOR, "p(start)", 0), (axes[1], p_end, END_COLOR, "p(end)", 1))
    for ax, probs, color, name, side in rows:
        _draw_bars(ax, probs, x, in_context, color, span, side)
        ax.set_ylabel(name)
    axes[1].set_xticks(x, [shown_token(t) for t in data["tokens"][lo:hi]], rotation=90, fontsize=8)
    axes[1].set_xlim(lo - 0.6, hi - 0.4)
    for tick, i in zip(axes[1].get_xticklabels(), x, strict=True):
        if span is not None and span[0] <= i <= span[1]:
            tick.set_color(ANSWER_COLOR)
            tick.set_fontweight("bold")
    where = f"{_window_heading(explained, w)}, " if len(explained["windows"]) > 1 else ""
    shown = f"tokens {lo}–{hi - 1} of {n}" if (lo, hi) != (0, n) else f"{n} tokens"
    heading = _answer_title(explained) if with_answer else "start and end probabilities"
    axes[0].set_title(f"{heading}   ({where}{shown})", loc="left")


def probabilities_figure(
    explained: dict[str, Any],
    window: int | None = None,
    max_tokens: int = 64,
    width: float = 12.0,
    path: str | Path | None = None,
) -> Figure:
    """Start and end probabilities per token, the answer's bars in red and its span shaded.

    A window longer than `max_tokens` shows the `max_tokens` tokens around the answer.

    Args:
        explained: the output of `QuestionAnswerer.explain`.
        window: which window (default: the one the best answer was decoded from).
        max_tokens: the most bars per row.
        width: figure width in inches.
        path: also save the figure there (.png or .svg).
    """
    with style():
        fig = Figure(figsize=(width, BARS_HEIGHT), dpi=DPI, layout="constrained")
        _bars_on(fig, explained, window, max_tokens)
        return finish(fig, path)


def qa_figure(
    explained: dict[str, Any],
    window: int | None = None,
    max_tokens: int = 64,
    width: float = 12.0,
    path: str | Path | None = None,
) -> Figure:
    """Both QA pictures in one figure: token segments with the answer outlined, then the probability bars.

    Args: as `probabilities_figure`.
    """
    with style():
        width_px = width * DPI
        blocks, title = _qa_blocks(explained, window)
        top_h = TokenBoxLayout(width_px).height(blocks) / DPI
        fig = Figure(figsize=(width, top_h + BARS_HEIGHT), dpi=DPI, layout="constrained")
        top, bottom = np.asarray(fig.subfigures(2, 1, height_ratios=[top_h, BARS_HEIGHT])).ravel()
        draw_token_blocks(top, blocks, title, width_px, QA_LEGEND)
        _bars_on(bottom, explained, window, max_tokens, with_answer=False)
        return finish(fig, path)
