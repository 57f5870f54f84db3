"""Where things go: text measured with the real fonts, boxes flowed into rows, and the one layout of token
boxes (their widths, rows and the height a figure of them needs) that every token-box picture uses.

All lengths are layout pixels (`style.DPI` per inch), measured from the figure's top-left corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties

from .style import DPI, font_families, shown_token


class Measure:
    """Text widths in layout pixels, with the fonts (and fallbacks) the figure will draw with."""

    def __init__(self) -> None:
        self.renderer = RendererAgg(10, 10, DPI)
        self.cache: dict[tuple[str, float], float] = {}

    def width(self, text: str, size: float) -> float:
        """Width of `text` at font size `size` (points)."""
        key = (text, size)
        if key not in self.cache:
            prop = FontProperties(family=font_families(), size=size)
            w, _, _ = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
            self.cache[key] = float(w)
        return self.cache[key]


def flow(
    widths: Sequence[float], row_width: float, gap: float, breaks: Sequence[bool] = ()
) -> list[tuple[int, float]]:
    """Place items left to right, `gap` apart, wrapping when the row is full: (row, x) of each.

    An item that alone is wider than a row gets a row of its own. `breaks[i]` starts a new row at item i.

    >>> flow([40, 40, 40], row_width=100, gap=10)  # 40+10+40 fits, the third wraps
    [(0, 0.0), (0, 50.0), (1, 0.0)]
    >>> flow([10, 10], row_width=100, gap=5, breaks=[False, True])
    [(0, 0.0), (1, 0.0)]
    """
    placed: list[tuple[int, float]] = []
    row, x = 0, 0.0
    for i, w in enumerate(widths):
        if placed and i < len(breaks) and breaks[i]:
            row, x = row + 1, 0.0
        elif x > 0 and x + w > row_width:
            row, x = row + 1, 0.0
        placed.append((row, x))
        x += w + gap
    return placed


@dataclass
class TokenBlock:
    """One row-wrapped run of token boxes, with a heading ("window 2 of 3"; "" for none)."""

    heading: str
    tokens: list[str]
    segments: list[str]
    outlined: list[bool]


@dataclass(frozen=True)
class TokenBox:
    """One token's box: its row within its block, left edge and width, and what is drawn in it."""

    row: int
    x: float
    width: float
    text: str
    segment: str
    outlined: bool


class TokenBoxLayout:
    """The geometry of a figure of token boxes `width_px` wide: a title, a legend, then blocks of boxes.

    y = 22   title
    y = 46   legend
    y = 66   first block: [heading, 26 px] then rows of boxes, one every 28 px
    ...      the next block
    + 12     bottom margin
    """

    font_size, pad, gap, box_height, pitch, margin = 9.5, 6.0, 4.0, 20.0, 28.0, 12.0
    title_y, legend_y, blocks_top, heading_height = 22.0, 46.0, 66.0, 26.0

    def __init__(self, width_px: float, measure: Measure | None = None):
        self.width_px = width_px
        self.measure = measure or Measure()

    def boxes(self, block: TokenBlock) -> list[TokenBox]:
        """The block's boxes, wrapped into rows that fit between the margins."""
        shown = [shown_token(t) for t in block.tokens]
        widths = [self.measure.width(s, self.font_size) + 2 * self.pad for s in shown]
        placed = flow(widths, self.width_px - 2 * self.margin, self.gap)
        return [
            TokenBox(row, self.margin + x, w, s, segment, outlined)
            for (row, x), w, s, segment, outlined in zip(
                placed, widths, shown, block.segments, block.outlined, strict=True
            )
        ]

    @staticmethod
    def rows(boxes: Sequence[TokenBox]) -> int:
        """How many rows the boxes take."""
        return boxes[-1].row + 1 if boxes else 0

    def height(self, blocks: Sequence[TokenBlock]) -> float:
        """The height the figure needs for these blocks."""
        height = self.blocks_top + self.margin
        for block in blocks:
            if block.heading:
                height += self.heading_height
            height += self.rows(self.boxes(block)) * self.pitch
        return height
