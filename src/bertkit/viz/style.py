"""How every figure looks and is written: fonts (Hangul included), colours, rcParams, saving as PNG or SVG.

Fonts: DejaVu Sans first, then a CJK font (Noto Sans CJK from Debian's fonts-noto-cjk) as the fallback for
the characters DejaVu lacks, so Korean renders instead of empty boxes.
"""

from __future__ import annotations

import contextlib
import glob
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..errors import InputError  # noqa: E402

FORMATS = {".png": "png", ".svg": "svg"}
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
def style() -> Iterator[None]:
    """The rcParams every figure is made and saved with (fonts with their fallback, sizes, SVG text)."""
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
    with style():
        fig.savefig(path, format=fmt, dpi=dpi)
    return path


def to_bytes(fig: Figure, fmt: str = "svg", dpi: int = 120) -> bytes:
    """The figure as PNG or SVG bytes (for the HTTP API)."""
    if fmt not in ("png", "svg"):
        raise InputError(f"format must be png or svg, got {fmt!r}")
    buffer = io.BytesIO()
    with style():
        fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def finish(fig: Figure, path: str | Path | None) -> Figure:
    """The figure, saved first when a path is given (the `path=` of every figure function)."""
    if path is not None:
        save(fig, path)
    return fig


def plain_text(ax: Any, x: float, y: float, s: str, **kwargs: Any) -> Any:
    """Plain text (never mathtext: a `$` in a token is a dollar sign)."""
    return ax.text(x, y, s, parse_math=False, **kwargs)


def shown_token(token: str) -> str:
    """A token as drawn: control and blank characters made visible.

    >>> shown_token(""), shown_token("\\t"), shown_token("서울")
    ('∅', '\\\\t', '서울')
    """
    if token == "":
        return "∅"
    if not token.strip():
        return repr(token)[1:-1] or "␣"
    return token
