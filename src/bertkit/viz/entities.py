"""The NER picture: the text wrapped into rows, each entity on a coloured background with its type and
score under it; a word glued to an entity (서울 + 에서) never breaks across rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import InputError
from .layout import Measure, flow
from .style import DPI, ENTITY_PALETTE, finish, plain_text, style

TEXT_SIZE, LABEL_SIZE = 11.0, 7.5
PITCH, MARGIN, LINE_HEIGHT, ROWS_TOP = 44.0, 14.0, 20.0, 66.0  # layout pixels


def entity_label(entity: dict[str, Any]) -> str:
    """The type of an entity dict: its entity_group, or its entity label without the B-/I- prefix.

    >>> entity_label({"entity": "B-PER"}), entity_label({"entity_group": "LOC"})
    ('PER', 'LOC')
    """
    label = entity.get("entity_group") or entity.get("entity") or "?"
    return re.sub(r"^[BIES]-", "", str(label))


@dataclass
class Piece:
    """A run of text drawn as one: a whitespace-free chunk, or a whole entity (its inner spaces as one)."""

    text: str
    entity: dict[str, Any] | None
    space_before: bool
    newline_before: bool


def split_at_entities(text: str, entities: list[dict[str, Any]]) -> list[Piece]:
    """Cut the text at entity boundaries and at whitespace (entities stay whole; overlapping ones: the first).

    >>> [(p.text, p.space_before) for p in split_at_entities("서울에서 왔다", [{"start": 0, "end": 2}])]
    [('서울', False), ('에서', False), ('왔다', True)]
    """
    spans = sorted(
        (e for e in entities if 0 <= int(e["start"]) < int(e["end"]) <= len(text)), key=lambda e: e["start"]
    )
    pieces: list[Piece] = []
    pos, space, newline = 0, False, False

    def plain(chunk: str) -> None:
        nonlocal space, newline
        for m in re.finditer(r"\S+|\s+", chunk):
            part = m.group()
            if part.isspace():
                space = True
                newline = newline or "\n" in part
            else:
                pieces.append(Piece(part, None, space, newline))
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
        pieces.append(Piece(" ".join(shown.split()), e, space or bool(lead), newline or "\n" in lead))
        trail = shown[len(shown.rstrip()) :]
        space, newline = bool(trail), "\n" in trail
        pos = end
    plain(text[pos:])
    return pieces


def _entity_caption(entity: dict[str, Any]) -> str:
    score = entity.get("score")
    return entity_label(entity) if score is None else f"{entity_label(entity)} {float(score):.2f}"


def _piece_width(measure: Measure, piece: Piece) -> float:
    """Width of a piece; an entity is at least as wide as its label, so labels never overlap."""
    width = measure.width(piece.text, TEXT_SIZE)
    if piece.entity is None:
        return width
    return max(width + 8, measure.width(_entity_caption(piece.entity), LABEL_SIZE) + 6)


def _place(pieces: list[Piece], usable: float, measure: Measure) -> list[tuple[int, float, Piece, float]]:
    """(row, x, piece, width) of each piece: words flow into rows a space apart, a newline starts a row.

    Pieces glued together without whitespace (서울 + 에서) are placed as one group, so a row never breaks
    inside a word.
    """
    groups: list[list[Piece]] = []
    for p in pieces:
        if groups and not p.space_before and not p.newline_before:
            groups[-1].append(p)
        else:
            groups.append([p])
    widths = [[_piece_width(measure, p) for p in group] for group in groups]
    space = measure.width("a a", TEXT_SIZE) - measure.width("aa", TEXT_SIZE)
    starts = flow([sum(w) for w in widths], usable, space, [g[0].newline_before for g in groups])
    placed = []
    for (row, x), group, group_widths in zip(starts, groups, widths, strict=True):
        for p, w in zip(group, group_widths, strict=True):
            placed.append((row, x, p, w))
            x += w
    return placed


def _draw_piece(ax: Any, x: float, y: float, piece: Piece, width: float, colors: dict[str, str]) -> None:
    """A piece with its left edge at x and its middle at y: plain text, or an entity box and caption."""
    if piece.entity is None:
        plain_text(ax, x, y, piece.text, fontsize=TEXT_SIZE, ha="left", va="center")
        return
    color = colors[entity_label(piece.entity)]
    box = (x, y - LINE_HEIGHT / 2 - 1), width, LINE_HEIGHT + 2
    ax.add_patch(Rectangle(*box, facecolor=color, edgecolor="#666", lw=0.6))
    plain_text(ax, x + width / 2, y, piece.text, fontsize=TEXT_SIZE, ha="center", va="center")
    caption_y = y + LINE_HEIGHT / 2 + 8
    caption = _entity_caption(piece.entity)
    plain_text(
        ax, x + width / 2, caption_y, caption, fontsize=LABEL_SIZE, ha="center", va="center", color="#333"
    )


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
        width: figure width in inches; the text wraps into rows.
        title: the figure's first words (the entity count follows).
        path: also save the figure there (.png or .svg).
    """
    if not isinstance(text, str):
        raise InputError("text must be a string")
    width_px = width * DPI
    measure = Measure()
    placed = _place(split_at_entities(text, entities), width_px - 2 * MARGIN, measure)
    types = sorted({entity_label(e) for e in entities})
    colors = {t: ENTITY_PALETTE[i % len(ENTITY_PALETTE)] for i, t in enumerate(types)}
    rows = (placed[-1][0] + 1) if placed else 1
    height = ROWS_TOP + rows * PITCH + MARGIN
    with style():
        fig = Figure(figsize=(width, height / DPI), dpi=DPI)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        heading = f"{title}: {len(entities)} found"
        plain_text(ax, MARGIN, 22, heading, fontsize=11, va="center", fontweight="bold")
        x = MARGIN
        for t in types:
            ax.add_patch(Rectangle((x, 39), 14, 14, facecolor=colors[t], edgecolor="#888"))
            plain_text(ax, x + 18, 46, t, fontsize=9, va="center")
            x += 30 + measure.width(t, 9)
        for row, x0, piece, w in placed:
            _draw_piece(ax, MARGIN + x0, ROWS_TOP + row * PITCH + LINE_HEIGHT / 2, piece, w, colors)
        ax.set_xlim(0, width_px)
        ax.set_ylim(height, 0)
        return finish(fig, path)
