"""Pictures of what the model does: matplotlib figures, headless (Agg), Hangul included.

Every function returns a `matplotlib.figure.Figure` (made without pyplot, so nothing global piles up in
a server) and takes `path=` to also save it; the file name's extension picks the format (.png or .svg):

    explained = QuestionAnswerer(model).explain(question, context)
    qa_figure(explained, path="qa.png")                  # tokens by segment + start/end probability bars
    token_segments_figure(explained, path="tokens.svg")  # tokens coloured question/context/special
    attention_figure(weights, tokens, layer=-1, head=0)  # [layers, heads, n, n] → grid + one head large
    attends_to_figure(tokens, weights_of_one_row)        # which tokens one word attends to
    entities_figure(text, entities)                      # NER spans over the text

Long inputs stay readable: token boxes and text wrap into rows whose widths are measured with the real
font (no overlapping labels), probability bars show the region around the answer, attention maps label
every k-th token when there are too many to label them all.

Fonts: DejaVu Sans first, then a CJK font (Noto Sans CJK from Debian's fonts-noto-cjk) as the fallback for
the characters DejaVu lacks, so Korean renders instead of empty boxes.
"""

from __future__ import annotations

import contextlib
import glob
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .errors import InputError  # noqa: E402

FORMATS = {".png": "png", ".svg": "svg"}
MAX_WINDOW_TOKENS = 1024  # a QA window drawn as boxes (models take 512 at most; more is unreadable)
DPI = 100  # layout unit: pixels at this dpi (saving at another dpi scales everything alike)

# Fallback order: the first family that has a glyph draws it.
CJK_FAMILIES = ("Noto Sans CJK KR", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans KR", "NanumGothic")
CJK_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/NotoSansKR*.[ot]tf",
    "/usr/share/fonts/**/Nanum*.ttf",
)

SEGMENT_COLORS = {
    "question": "#cfe2ff",
    "context": "#fff3c4",
    "special": "#d9d9d9",
    "text": "#cfe2ff",
    "pair": "#fff3c4",
}
ANSWER_COLOR = "#d62728"
START_COLOR = "#1f77b4"
END_COLOR = "#ff7f0e"
ENTITY_PALETTE = ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99", "#8dd3c7", "#bebada")


# --- fonts and saving ---------------------------------------------------------------------------------------


_families: list[str] | None = None


def font_families() -> list[str]:
    """["DejaVu Sans", <a CJK family>] when a CJK font is installed, else ["DejaVu Sans"].

    A font installed after matplotlib built its font cache is found by path and added.
    """
    global _families
    if _families is None:
        known = {f.name for f in font_manager.fontManager.ttflist}
        if not any(name in known for name in CJK_FAMILIES):
            for pattern in CJK_FONT_GLOBS:
                for path in sorted(glob.glob(pattern, recursive=True)):
                    with contextlib.suppress(Exception):
                        font_manager.fontManager.addfont(path)
            known = {f.name for f in font_manager.fontManager.ttflist}
        _families = ["DejaVu Sans"] + [name for name in CJK_FAMILIES if name in known][:1]
    return _families


def has_cjk_font() -> bool:
    """Whether Hangul (and other CJK text) will render: a CJK font is installed and selected."""
    return len(font_families()) > 1


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(
        {"font.family": font_families(), "svg.fonttype": "path", "axes.titlesize": 11, "font.size": 9}
    ):
        yield


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure; the extension picks the format (.png or .svg)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot save a figure as {path.name!r}: use a .png or .svg file name")
    with _style():
        fig.savefig(path, format=fmt, dpi=dpi)
    return path


def to_bytes(fig: Figure, fmt: str = "svg", dpi: int = 120) -> bytes:
    """The figure as PNG or SVG bytes (for the HTTP API)."""
    if fmt not in ("png", "svg"):
        raise InputError(f"format must be png or svg, got {fmt!r}")
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save(fig, path)
    return fig


# --- measuring text -----------------------------------------------------------------------------------------


class _Measure:
    """Text widths in layout pixels, with the fonts (and fallbacks) the figure will draw with."""

    def __init__(self) -> None:
        self.renderer = RendererAgg(10, 10, DPI)
        self.cache: dict[tuple[str, float], float] = {}

    def width(self, text: str, size: float) -> float:
        key = (text, size)
        if key not in self.cache:
            prop = FontProperties(family=font_families(), size=size)
            w, _, _ = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
            self.cache[key] = float(w)
        return self.cache[key]


def _text(ax: Any, x: float, y: float, s: str, **kwargs: Any) -> Any:
    """Plain text (never mathtext: a `$` in a token is a dollar sign)."""
    return ax.text(x, y, s, parse_math=False, **kwargs)


def shown_token(token: str) -> str:
    """A token as drawn: control and blank characters made visible."""
    if token == "":
        return "∅"
    if not token.strip():
        return repr(token)[1:-1] or "␣"
    return token


# --- token boxes (QA segments, tokenization) ----------------------------------------------------------------


@dataclass
class _Box:
    row: int
    x: float
    width: float
    token: str
    segment: str
    outlined: bool


def _flow(widths: Sequence[float], row_width: float, gap: float) -> list[tuple[int, float]]:
    """Place boxes left to right, wrapping when the row is full: (row, x) of each."""
    placed, row, x = [], 0, 0.0
    for w in widths:
        if x > 0 and x + w > row_width:
            row, x = row + 1, 0.0
        placed.append((row, x))
        x += w + gap
    return placed


@dataclass
class TokenBlock:
    """One row-wrapped run of token boxes, with a heading ("window 2 of 3")."""

    heading: str
    tokens: list[str]
    segments: list[str]
    outlined: list[bool]


def _draw_token_blocks(
    fig: Any, blocks: list[TokenBlock], title: str, width_px: float, legend: Sequence[str]
) -> None:
    """Draw blocks of token boxes on `fig` (a Figure or SubFigure whose size fits `_blocks_height`)."""
    size, pad, gap, box_h, pitch, margin = 9.5, 6.0, 4.0, 20.0, 28.0, 12.0
    measure = _Measure()
    usable = width_px - 2 * margin
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    y = 22.0
    _text(ax, margin, y, title, fontsize=11, va="center", ha="left", fontweight="bold")
    y += 24
    x = margin
    for name in legend:
        ax.add_patch(Rectangle((x, y - 7), 14, 14, facecolor=SEGMENT_COLORS[name], edgecolor="#888"))
        _text(ax, x + 18, y, name, fontsize=9, va="center")
        x += 26 + measure.width(name, 9)
    if any(any(b.outlined) for b in blocks):
        ax.add_patch(Rectangle((x, y - 7), 14, 14, facecolor="none", edgecolor=ANSWER_COLOR, lw=2))
        _text(ax, x + 18, y, "answer", fontsize=9, va="center")
    y += 20
    for block in blocks:
        if block.heading:
            y += 6
            _text(ax, margin, y + 8, block.heading, fontsize=9, va="center", color="#444", style="italic")
            y += 20
        shown = [shown_token(t) for t in block.tokens]
        widths = [measure.width(s, size) + 2 * pad for s in shown]
        placed = _flow(widths, usable, gap)
        boxes = [
            _Box(row, margin + x0, w, s, seg, out)
            for (row, x0), w, s, seg, out in zip(
                placed, widths, shown, block.segments, block.outlined, strict=True
            )
        ]
        for b in boxes:
            top = y + b.row * pitch
            color = SEGMENT_COLORS.get(b.segment, "#eeeeee")
            ax.add_patch(Rectangle((b.x, top), b.width, box_h, facecolor=color, edgecolor="#999", lw=0.6))
            _text(ax, b.x + b.width / 2, top + box_h / 2, b.token, fontsize=size, ha="center", va="center")
        # One outline per row around each run of outlined boxes (an answer can wrap onto the next row).
        run: list[_Box] = []
        ends: list[_Box | None] = [*boxes, None]
        for nxt in ends:
            if nxt is not None and nxt.outlined and (not run or run[-1].row == nxt.row):
                run.append(nxt)
                continue
            if run:
                top = y + run[0].row * pitch
                left, right = run[0].x - 2.5, run[-1].x + run[-1].width + 2.5
                ax.add_patch(
                    Rectangle((left, top - 2.5), right - left, box_h + 5, fill=False, ec=ANSWER_COLOR, lw=2.2)
                )
            run = [nxt] if nxt is not None and nxt.outlined else []
        rows = (placed[-1][0] + 1) if placed else 0
        y += rows * pitch
    ax.set_xlim(0, width_px)
    ax.set_ylim(y + margin, 0)


def _blocks_height(blocks: list[TokenBlock], width_px: float) -> float:
    """The height in layout pixels that `_draw_token_blocks` needs for these blocks."""
    measure = _Measure()
    height = 66.0 + 12.0
    for block in blocks:
        if block.heading:
            height += 26
        widths = [measure.width(shown_token(t), 9.5) + 12 for t in block.tokens]
        placed = _flow(widths, width_px - 24, 4.0)
        height += ((placed[-1][0] + 1) if placed else 0) * 28.0
    return height


def answer_location(explained: dict[str, Any], rank: int = 0) -> tuple[int, int, int] | None:
    """(window, start token, end token) of the rank-th answer of `QuestionAnswerer.explain`, in the window
    where it scores best; None when there is no such answer or it is the empty answer."""
    answers = explained.get("answers") or []
    if rank >= len(answers) or not answers[rank]["answer"]:
        return None
    start, end = answers[rank]["start"], answers[rank]["end"]
    best: tuple[float, tuple[int, int, int]] | None = None
    for w, window in enumerate(explained["windows"]):
        starts = [
            i
            for i, (seg, off) in enumerate(zip(window["segments"], window["offsets"], strict=True))
            if seg == "context" and off[0] == start and off[1] > off[0]
        ]
        ends = [
            i
            for i, (seg, off) in enumerate(zip(window["segments"], window["offsets"], strict=True))
            if seg == "context" and off[1] == end and off[1] > off[0]
        ]
        for s in starts:
            for e in ends:
                if e >= s:
                    score = window["p_start"][s] * window["p_end"][e]
                    if best is None or score > best[0]:
                        best = (score, (w, s, e))
    return None if best is None else best[1]


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


def token_segments_figure(
    explained: dict[str, Any], window: int | None = None, width: float = 12.0, path: str | Path | None = None
) -> Figure:
    """Tokens of one QA window coloured by segment (question, context, special), the answer outlined.

    Args:
        explained: the output of `QuestionAnswerer.explain`.
        window: which window (default: the one where the best answer scores best).
        width: figure width in inches; long windows wrap into more rows.
    """
    with _style():
        fig = Figure(figsize=(width, 1), dpi=DPI)
        _qa_tokens_on(fig, explained, window, width * DPI)
        return _finish(fig, path)


def _qa_blocks(explained: dict[str, Any], window: int | None) -> tuple[list[TokenBlock], str]:
    w, span = _chosen_window(explained, window)
    data = explained["windows"][w]
    n = len(data["tokens"])
    outlined = [span is not None and span[0] <= i <= span[1] for i in range(n)]
    heading = f"window {w + 1} of {len(explained['windows'])}" if len(explained["windows"]) > 1 else ""
    block = TokenBlock(heading, data["tokens"], data["segments"], outlined)
    return _capped([block], MAX_WINDOW_TOKENS), _answer_title(explained)


def _qa_tokens_on(fig: Figure, explained: dict[str, Any], window: int | None, width_px: float) -> None:
    blocks, title = _qa_blocks(explained, window)
    fig.set_size_inches(width_px / DPI, _blocks_height(blocks, width_px) / DPI)
    _draw_token_blocks(fig, blocks, title, width_px, ("question", "context", "special"))


def _capped(blocks: list[TokenBlock], max_tokens: int) -> list[TokenBlock]:
    """At most max_tokens boxes in all; a last line says how many were left out."""
    kept, room = [], max_tokens
    total = sum(len(b.tokens) for b in blocks)
    for block in blocks:
        if room <= 0:
            break
        n = min(room, len(block.tokens))
        kept.append(TokenBlock(block.heading, block.tokens[:n], block.segments[:n], block.outlined[:n]))
        room -= n
    if total > max_tokens:
        kept.append(TokenBlock(f"… {total - max_tokens} more tokens not drawn", [], [], []))
    return kept


def tokens_figure(
    windows: list[dict[str, Any]],
    title: str = "tokens",
    width: float = 12.0,
    max_tokens: int = 600,
    path: str | Path | None = None,
) -> Figure:
    """The windows of `encoding.token_table` as token boxes: first text, pair text, special tokens.

    Past `max_tokens` boxes (all windows together) the rest is left out, and the figure says so.
    """
    if not windows:
        raise InputError("nothing to draw: no windows")
    blocks = []
    for number, window in enumerate(windows):
        segments = [
            "special" if seq is None else ("text" if seq == 0 else "pair") for seq in window["sequence_ids"]
        ]
        heading = f"window {number + 1} of {len(windows)}" if len(windows) > 1 else ""
        blocks.append(TokenBlock(heading, window["tokens"], segments, [False] * len(segments)))
    blocks = _capped(blocks, max_tokens)
    has_pair = any(seq == 1 for w in windows for seq in w["sequence_ids"])
    legend = ("text", "pair", "special") if has_pair else ("text", "special")
    with _style():
        fig = Figure(figsize=(width, _blocks_height(blocks, width * DPI) / DPI), dpi=DPI)
        count = sum(len(w["tokens"]) for w in windows)
        _draw_token_blocks(fig, blocks, f"{title}: {count} tokens", width * DPI, legend)
        return _finish(fig, path)


# --- start/end probability bars -----------------------------------------------------------------------------


def _region(n: int, span: tuple[int, int] | None, focus: int, max_tokens: int) -> tuple[int, int]:
    """[lo, hi) of at most max_tokens positions, centred on the answer span (or on `focus`)."""
    if n <= max_tokens:
        return 0, n
    centre = (span[0] + span[1]) // 2 if span else focus
    lo = max(0, min(centre - max_tokens // 2, n - max_tokens))
    return lo, lo + max_tokens


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
    context = np.array([s == "context" for s in data["segments"]])[lo:hi]
    for ax, probs, color, name, mark in (
        (axes[0], p_start, START_COLOR, "p(start)", span[0] if span else None),
        (axes[1], p_end, END_COLOR, "p(end)", span[1] if span else None),
    ):
        colors = np.where(context, color, "#bbbbbb").tolist()
        ax.bar(x, probs[lo:hi], color=colors, width=0.8)
        if span is not None:
            ax.axvspan(span[0] - 0.5, span[1] + 0.5, color=ANSWER_COLOR, alpha=0.12, lw=0)
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
        ax.set_ylabel(name)
        ax.set_ylim(0, max(1e-6, float(probs[lo:hi].max())) * 1.18)
        ax.spines[["top", "right"]].set_visible(False)
    labels = [shown_token(t) for t in data["tokens"][lo:hi]]
    axes[1].set_xticks(x, labels, rotation=90, fontsize=8)
    axes[1].set_xlim(lo - 0.6, hi - 0.4)
    for tick, i in zip(axes[1].get_xticklabels(), x, strict=True):
        if span is not None and span[0] <= i <= span[1]:
            tick.set_color(ANSWER_COLOR)
            tick.set_fontweight("bold")
    where = f"window {w + 1} of {len(explained['windows'])}, " if len(explained["windows"]) > 1 else ""
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
    """
    with _style():
        fig = Figure(figsize=(width, 5.2), dpi=DPI, layout="constrained")
        _bars_on(fig, explained, window, max_tokens)
        return _finish(fig, path)


def qa_figure(
    explained: dict[str, Any],
    window: int | None = None,
    max_tokens: int = 64,
    width: float = 12.0,
    path: str | Path | None = None,
) -> Figure:
    """Both QA pictures in one figure: token segments with the answer outlined, then the probability bars."""
    with _style():
        width_px = width * DPI
        blocks, title = _qa_blocks(explained, window)
        top_h, bars_h = _blocks_height(blocks, width_px) / DPI, 5.2
        fig = Figure(figsize=(width, top_h + bars_h), dpi=DPI, layout="constrained")
        top, bottom = np.asarray(fig.subfigures(2, 1, height_ratios=[top_h, bars_h])).ravel()
        _draw_token_blocks(top, blocks, title, width_px, ("question", "context", "special"))
        _bars_on(bottom, explained, window, max_tokens, with_answer=False)
        return _finish(fig, path)


# --- attention ----------------------------------------------------------------------------------------------


def _tick_step(n: int, max_labels: int) -> int:
    return max(1, -(-n // max_labels))


def attention_figure(
    weights: Any,
    tokens: Sequence[str],
    layer: int = -1,
    head: int = 0,
    max_labels: int = 48,
    path: str | Path | None = None,
) -> Figure:
    """Attention as a layer x head grid of small maps, and the chosen layer/head large with token labels.

    Args:
        weights: [layers, heads, n, n] (or [n, n] for one map: then only the large map is drawn); row i is
            what token i attends to.
        tokens: the n tokens.
        layer, head: the large map (negative counts from the end).
        max_labels: more tokens than this get every k-th label only.
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim == 2:
        w = w[None, None]
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise InputError(f"attention weights must be [layers, heads, n, n] or [n, n], got shape {w.shape}")
    layers, heads, n, _ = w.shape
    if n != len(tokens):
        raise InputError(f"{len(tokens)} tokens but attention over {n} positions")
    if not (-layers <= layer < layers and -heads <= head < heads):
        raise InputError(f"layer {layer}, head {head} do not exist in {layers} layers x {heads} heads")
    layer, head = layer % layers, head % heads
    labels = [shown_token(t) for t in tokens]
    grid = layers * heads > 1
    with _style():
        big = 7.5 if n <= 40 else 9.5
        small_w = min(0.75, 7.5 / heads) if grid else 0
        fig = Figure(
            figsize=(big + 1.2 + (heads * small_w + 0.8 if grid else 0), max(big, layers * small_w + 1.2)),
            dpi=DPI,
            layout="constrained",
        )
        if grid:
            left, right = np.asarray(
                fig.subfigures(1, 2, width_ratios=[heads * small_w + 0.8, big + 1.2])
            ).ravel()
            left.suptitle(f"all {layers} layers x {heads} heads", fontsize=10)
            axes = np.asarray(left.subplots(layers, heads, squeeze=False))
            vmax = float(np.quantile(w, 0.995)) or 1.0
            for li in range(layers):
                for hi in range(heads):
                    ax = axes[li, hi]
                    ax.imshow(w[li, hi], cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if hi == 0:
                        ax.set_ylabel(f"L{li}", fontsize=8, rotation=0, labelpad=10, va="center")
                    if li == layers - 1:
                        ax.set_xlabel(f"H{hi}", fontsize=8)
                    if (li, hi) == (layer, head):
                        for spine in ax.spines.values():
                            spine.set_edgecolor(ANSWER_COLOR)
                            spine.set_linewidth(2.5)
        else:
            right = fig
        ax = right.subplots()
        image = ax.imshow(w[layer, head], cmap="viridis", vmin=0, interpolation="nearest")
        step = _tick_step(n, max_labels)
        ticks = np.arange(0, n, step)
        size = 8 if n <= 30 else 7
        ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=size)
        ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=size)
        ax.set_xlabel("attends to")
        ax.set_ylabel("token")
        sampled = f", every {step}th token labelled" if step > 1 else ""
        ax.set_title(f"layer {layer}, head {head}{sampled}")
        right.colorbar(image, ax=ax, shrink=0.7, label="weight")
        return _finish(fig, path)


def attends_to_figure(
    tokens: Sequence[str],
    weights: Any,
    word: str | None = None,
    highlight: Sequence[int] = (),
    max_tokens: int = 50,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Which tokens one word attends to: a horizontal bar per token, in text order.

    Args:
        tokens: the n tokens.
        weights: n weights (the word's row of an attention map, e.g. mean over its sub-tokens).
        word: the word, for the title.
        highlight: positions of the word's own tokens (drawn in red).
        max_tokens: more tokens than this keep the max_tokens largest (still in text order).
    """
    values = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(values) != len(tokens):
        raise InputError(f"{len(tokens)} tokens but {len(values)} weights")
    if not len(values):
        raise InputError("nothing to draw: no tokens")
    keep = np.arange(len(values))
    if len(keep) > max_tokens:
        keep = np.sort(np.argsort(-values, kind="stable")[:max_tokens])
    labels = [f"{shown_token(tokens[int(i)])}  ({i})" for i in keep]
    own = set(int(i) for i in highlight)
    with _style():
        fig = Figure(figsize=(7.5, 1.2 + 0.26 * len(keep)), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        y = np.arange(len(keep))
        colors = [ANSWER_COLOR if int(i) in own else START_COLOR for i in keep]
        ax.barh(y, values[keep], color=colors, height=0.75)
        ax.set_yticks(y, labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("attention weight")
        ax.spines[["top", "right"]].set_visible(False)
        for yi, v in zip(y, values[keep], strict=True):
            _text(ax, float(v), float(yi), f" {v:.2f}", va="center", fontsize=7, color="#444")
        ax.set_xlim(0, float(values.max()) * 1.15 or 1.0)
        heading = title or (f"what {word!r} attends to" if word else "attention weights")
        if len(keep) < len(values):
            heading += f"  (top {len(keep)} of {len(values)} tokens)"
        ax.set_title(heading, loc="left")
        return _finish(fig, path)


# --- NER ----------------------------------------------------------------------------------------------------


def entity_label(entity: dict[str, Any]) -> str:
    """The type of an entity dict: its entity_group, or its entity label without the B-/I- prefix."""
    label = entity.get("entity_group") or entity.get("entity") or "?"
    return re.sub(r"^[BIES]-", "", str(label))


@dataclass
class _Piece:
    text: str
    entity: dict[str, Any] | None
    space_before: bool
    newline_before: bool


def _pieces(text: str, entities: list[dict[str, Any]]) -> list[_Piece]:
    """Cut the text at entity boundaries and at whitespace (entities stay whole)."""
    spans = sorted(
        (e for e in entities if 0 <= int(e["start"]) < int(e["end"]) <= len(text)), key=lambda e: e["start"]
    )
    pieces: list[_Piece] = []
    pos, space, newline = 0, False, False

    def plain(chunk: str) -> None:
        nonlocal space, newline
        for m in re.finditer(r"\S+|\s+", chunk):
            part = m.group()
            if part.isspace():
                space = True
                newline = newline or "\n" in part
            else:
                pieces.append(_Piece(part, None, space, newline))
                space = newline = False

    for e in spans:
        start, end = int(e["start"]), int(e["end"])
        if start < pos:  # overlapping entity: keep the first
            continue
        plain(text[pos:start])
        shown = text[start:end]
        if not shown.strip():
            continue
        lead = shown[: len(shown) - len(shown.lstrip())]
        pieces.append(_Piece(" ".join(shown.split()), e, space or bool(lead), newline or "\n" in lead))
        trail = shown[len(shown.rstrip()) :]
        space, newline = bool(trail), "\n" in trail
        pos = end
    plain(text[pos:])
    return pieces


def _piece_width(measure: _Measure, piece: _Piece, size: float, label_size: float) -> float:
    """Width of a piece; an entity is at least as wide as its label, so labels never overlap."""
    width = measure.width(piece.text, size)
    if piece.entity is None:
        return width
    return max(width + 8, measure.width(_entity_caption(piece.entity), label_size) + 6)


def _entity_caption(entity: dict[str, Any]) -> str:
    score = entity.get("score")
    return entity_label(entity) if score is None else f"{entity_label(entity)} {float(score):.2f}"


def entities_figure(
    text: str,
    entities: list[dict[str, Any]],
    width: float = 12.0,
    title: str = "entities",
    path: str | Path | None = None,
) -> Figure:
    """The text with each entity on a coloured background and its type and score under it.

    Args:
        text: the text that was tagged.
        entities: dicts with start, end, entity_group (or entity) and score, as `EntityTagger` returns
            them (`Entity.to_dict()`), offsets into `text`.
    """
    if not isinstance(text, str):
        raise InputError("text must be a string")
    size, label_size, pitch, margin, line_h = 11.0, 7.5, 44.0, 14.0, 20.0
    width_px = width * DPI
    usable = width_px - 2 * margin
    measure = _Measure()
    pieces = _pieces(text, entities)
    types = sorted({entity_label(e) for e in entities})
    colors = {t: ENTITY_PALETTE[i % len(ENTITY_PALETTE)] for i, t in enumerate(types)}
    space = measure.width("a a", size) - measure.width("aa", size)

    # Group pieces glued together without whitespace (서울 + 에서) so a row never breaks inside a word.
    groups: list[list[_Piece]] = []
    for p in pieces:
        if groups and not p.space_before and not p.newline_before:
            groups[-1].append(p)
        else:
            groups.append([p])
    placed: list[tuple[int, float, _Piece, float]] = []
    row, x = 0, 0.0
    for group in groups:
        widths = [_piece_width(measure, p, size, label_size) for p in group]
        total = sum(widths)
        first = group[0]
        if placed and first.newline_before:
            row, x = row + 1, 0.0
        elif placed:
            x += space
            if x + total > usable:
                row, x = row + 1, 0.0
        for p, w in zip(group, widths, strict=True):
            placed.append((row, x, p, w))
            x += w
    rows = (placed[-1][0] + 1) if placed else 1
    height = 66 + rows * pitch + margin
    with _style():
        fig = Figure(figsize=(width, height / DPI), dpi=DPI)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        _text(ax, margin, 22, f"{title}: {len(entities)} found", fontsize=11, va="center", fontweight="bold")
        lx = margin
        for t in types:
            ax.add_patch(Rectangle((lx, 39), 14, 14, facecolor=colors[t], edgecolor="#888"))
            _text(ax, lx + 18, 46, t, fontsize=9, va="center")
            lx += 30 + measure.width(t, 9)
        top = 66
        for r, x0, p, w in placed:
            y = top + r * pitch + line_h / 2
            if p.entity is not None:
                t = entity_label(p.entity)
                ax.add_patch(
                    Rectangle(
                        (margin + x0, y - line_h / 2 - 1),
                        w,
                        line_h + 2,
                        facecolor=colors[t],
                        edgecolor="#666",
                        lw=0.6,
                    )
                )
                _text(ax, margin + x0 + w / 2, y, p.text, fontsize=size, ha="center", va="center")
                label = _entity_caption(p.entity)
                _text(
                    ax,
                    margin + x0 + w / 2,
                    y + line_h / 2 + 8,
                    label,
                    fontsize=label_size,
                    ha="center",
                    va="center",
                    color="#333",
                )
            else:
                _text(ax, margin + x0, y, p.text, fontsize=size, ha="left", va="center")
        ax.set_xlim(0, width_px)
        ax.set_ylim(height, 0)
        return _finish(fig, path)
