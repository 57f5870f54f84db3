"""Token boxes: blocks of coloured boxes (one per token) with a title and a legend, answers outlined, drawn
on the geometry of `layout.TokenBoxLayout`; and the tokenization picture made of them (`tokens_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import InputError
from .layout import TokenBlock, TokenBox, TokenBoxLayout
from .style import ANSWER_COLOR, DPI, SEGMENT_COLORS, finish, plain_text, style


def draw_token_blocks(
    fig: Any, blocks: list[TokenBlock], title: str, width_px: float, legend: Sequence[str]
) -> None:
    """Draw blocks of token boxes on `fig` (a Figure or SubFigure as high as `TokenBoxLayout.height`).

    Args:
        blocks: the blocks, top to bottom.
        title: the bold first line.
        width_px: the figure's width in layout pixels.
        legend: the segments to explain, in this order ("answer" is added when a box is outlined).
    """
    layout = TokenBoxLayout(width_px)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    plain_text(
        ax, layout.margin, layout.title_y, title, fontsize=11, va="center", ha="left", fontweight="bold"
    )
    _draw_legend(ax, layout, legend, with_answer=any(any(b.outlined) for b in blocks))
    y = layout.blocks_top
    for block in blocks:
        if block.heading:
            plain_text(
                ax,
                layout.margin,
                y + 14,
                block.heading,
                fontsize=9,
                va="center",
                color="#444",
                style="italic",
            )
            y += layout.heading_height
        boxes = layout.boxes(block)
        for box in boxes:
            _draw_box(ax, layout, box, y + box.row * layout.pitch)
        _outline_runs(ax, layout, boxes, y)
        y += layout.rows(boxes) * layout.pitch
    ax.set_xlim(0, width_px)
    ax.set_ylim(y + layout.margin, 0)


def _draw_legend(ax: Any, layout: TokenBoxLayout, legend: Sequence[str], with_answer: bool) -> None:
    x, y = layout.margin, layout.legend_y
    for name in legend:
        ax.add_patch(Rectangle((x, y - 7), 14, 14, facecolor=SEGMENT_COLORS[name], edgecolor="#888"))
        plain_text(ax, x + 18, y, name, fontsize=9, va="center")
        x += 26 + layout.measure.width(name, 9)
    if with_answer:
        ax.add_patch(Rectangle((x, y - 7), 14, 14, facecolor="none", edgecolor=ANSWER_COLOR, lw=2))
        plain_text(ax, x + 18, y, "answer", fontsize=9, va="center")


def _draw_box(ax: Any, layout: TokenBoxLayout, box: TokenBox, top: float) -> None:
    color = SEGMENT_COLORS.get(box.segment, "#eeeeee")
    ax.add_patch(
        Rectangle((box.x, top), box.width, layout.box_height, facecolor=color, edgecolor="#999", lw=0.6)
    )
    center = (box.x + box.width / 2, top + layout.box_height / 2)
    plain_text(ax, *center, box.text, fontsize=layout.font_size, ha="center", va="center")


def _outline_runs(ax: Any, layout: TokenBoxLayout, boxes: list[TokenBox], y: float) -> None:
    """One outline per row around each run of outlined boxes (an answer can wrap onto the next row)."""
    run: list[TokenBox] = []
    for box in [*boxes, None]:
        if box is not None and box.outlined and (not run or run[-1].row == box.row):
            run.append(box)
            continue
        if run:
            top = y + run[0].row * layout.pitch
            left, right = run[0].x - 2.5, run[-1].x + run[-1].width + 2.5
            outline = Rectangle(
                (left, top - 2.5), right - left, layout.box_height + 5, fill=False, ec=ANSWER_COLOR, lw=2.2
            )
            ax.add_patch(outline)
        run = [box] if box is not None and box.outlined else []


def capped(blocks: list[TokenBlock], max_tokens: int) -> list[TokenBlock]:
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

    Args:
        windows: `token_table`'s windows (each with "tokens" and "sequence_ids").
        title: the figure's first words (the token count follows).
        width: figure width in inches; long windows wrap into more rows.
        max_tokens: the most boxes drawn.
        path: also save the figure there (.png or .svg).
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
    blocks = capped(blocks, max_tokens)
    has_pair = any(seq == 1 for w in windows for seq in w["sequence_ids"])
    legend = ("text", "pair", "special") if has_pair else ("text", "special")
    with style():
        fig = Figure(figsize=(width, TokenBoxLayout(width * DPI).height(blocks) / DPI), dpi=DPI)
        count = sum(len(w["tokens"]) for w in windows)
        draw_token_blocks(fig, blocks, f"{title}: {count} tokens", width * DPI, legend)
        return finish(fig, path)
