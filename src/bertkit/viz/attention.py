"""Attention pictures: every layer x head as small maps beside one map large with token labels, and the
bars of what one word attends to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import InputError
from .style import ANSWER_COLOR, DPI, START_COLOR, finish, plain_text, shown_token, style


def _tick_step(n: int, max_labels: int) -> int:
    """Label every k-th of n tokens so that at most max_labels are labelled.

    >>> _tick_step(100, 48)
    3
    """
    return max(1, -(-n // max_labels))


def _checked_weights(
    weights: Any, tokens: Sequence[str], layer: int, head: int
) -> tuple[np.ndarray, int, int]:
    """The weights as [layers, heads, n, n] float32, and layer/head as non-negative indices."""
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
    return w, layer % layers, head % heads


def _draw_grid(fig: Any, w: np.ndarray, chosen: tuple[int, int]) -> None:
    """Every layer x head as a small unlabelled map, the chosen one framed in red."""
    layers, heads = w.shape[:2]
    fig.suptitle(f"all {layers} layers x {heads} heads", fontsize=10)
    axes = np.asarray(fig.subplots(layers, heads, squeeze=False))
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
            if (li, hi) == chosen:
                for spine in ax.spines.values():
                    spine.set_edgecolor(ANSWER_COLOR)
                    spine.set_linewidth(2.5)


def _draw_large_map(fig: Any, weights: np.ndarray, labels: list[str], title: str, max_labels: int) -> None:
    """One [n, n] map with token labels (every k-th past max_labels) and a colour bar."""
    n = len(labels)
    ax = fig.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0, interpolation="nearest")
    step = _tick_step(n, max_labels)
    ticks = np.arange(0, n, step)
    size = 8 if n <= 30 else 7
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=size)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=size)
    ax.set_xlabel("attends to")
    ax.set_ylabel("token")
    sampled = f", every {step}th token labelled" if step > 1 else ""
    ax.set_title(f"{title}{sampled}")
    fig.colorbar(image, ax=ax, shrink=0.7, label="weight")


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
        path: also save the figure there (.png or .svg).
    """
    w, layer, head = _checked_weights(weights, tokens, layer, head)
    layers, heads, n, _ = w.shape
    grid = layers * heads > 1
    with style():
        big = 7.5 if n <= 40 else 9.5
        grid_w = heads * min(0.75, 7.5 / heads) + 0.8 if grid else 0.0
        grid_h = layers * min(0.75, 7.5 / heads) + 1.2 if grid else 0.0
        fig = Figure(figsize=(big + 1.2 + grid_w, max(big, grid_h)), dpi=DPI, layout="constrained")
        large: Any = fig
        if grid:
            left, large = np.asarray(fig.subfigures(1, 2, width_ratios=[grid_w, big + 1.2])).ravel()
            _draw_grid(left, w, (layer, head))
        labels = [shown_token(t) for t in tokens]
        _draw_large_map(large, w[layer, head], labels, f"layer {layer}, head {head}", max_labels)
        return finish(fig, path)


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
        title: the title (default: "what <word> attends to").
        path: also save the figure there (.png or .svg).
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
    with style():
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
            plain_text(ax, float(v), float(yi), f" {v:.2f}", va="center", fontsize=7, color="#444")
        ax.set_xlim(0, float(values.max()) * 1.15 or 1.0)
        heading = title or (f"what {word!r} attends to" if word else "attention weights")
        if len(keep) < len(values):
            heading += f"  (top {len(keep)} of {len(values)} tokens)"
        ax.set_title(heading, loc="left")
        return finish(fig, path)
