"""Pure numpy pieces every decoder shares: one softmax, the "max context" rule for overlapping windows, and
span trimming. QA (inference and labelling) and NER (inference and training) use these, not copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .encoding import TokenWindows


def softmax(logits: Any, dtype: Any = np.float64) -> np.ndarray:
    """Softmax over the last axis, computed in `dtype` as the transformers pipelines do (max-shifted exp,
    then normalised). NER passes float32, the pipeline's precision; padding given -inf gets probability 0.

    >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]])).round(2).tolist()
    [[0.5, 0.5], [0.25, 0.75]]
    """
    x = np.asarray(logits, dtype=dtype)
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return x / x.sum(axis=-1, keepdims=True)


def max_context_score(left: Any, right: Any, size: Any) -> Any:
    """How well a window centres a token or span: min(tokens left of it, tokens right of it) + 0.01 * size.

    The "max context" rule of google-research/bert run_squad.py: of the overlapping windows that hold a
    token (or an answer span), the one where it has the most context on both sides wins; the 0.01 * size
    term prefers the larger window on a tie. With windows of context tokens c0..c6 and c5..c11 and c6:

        window 1: min(6 left, 0 right) + 0.01 * 7 = 0.07
        window 2: min(1 left, 5 right) + 0.01 * 7 = 1.07   → window 2, where c6 has context on both sides

    Args:
        left, right: tokens of the window before and after the token or span (numbers or arrays).
        size: tokens in the window.
    """
    return np.minimum(left, right) + 0.01 * np.asarray(size)


def token_context_scores(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every text token of every window (windows of `counts` text tokens), its local position and its
    `max_context_score` in that window.

    >>> local, score = token_context_scores(np.array([4, 3]))
    >>> local.tolist(), score.round(2).tolist()
    ([0, 1, 2, 3, 0, 1, 2], [0.04, 1.04, 1.04, 0.04, 0.03, 1.03, 0.03])
    """
    sizes = np.repeat(counts, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(int(counts.sum())) - starts
    return local, max_context_score(local, sizes - 1 - local, sizes)


def best_window_tokens(windows: TokenWindows) -> dict[str, np.ndarray]:
    """Flatten the text tokens of all windows and keep, for each (text, position), the token of the window
    that centres it best (`token_context_scores`; ties: the earlier window).

    Returns arrays over the kept tokens, in (text, position) order: `window`, `slot` (the token's place in
    its window), `flat` (its row in all windows' tokens concatenated), `doc`, `position`, `offsets` [n, 2],
    `word_ids`.
    """
    counts = np.asarray([int(m.sum()) for m in windows.text_mask], dtype=np.int64)
    local, score = token_context_scores(counts)
    window = np.repeat(np.arange(len(counts)), counts)
    doc = windows.sample[window]
    position = windows.first[window] + local
    slot = (
        np.concatenate([np.flatnonzero(m) for m in windows.text_mask])
        if len(counts)
        else np.zeros(0, np.int64)
    )
    order = np.lexsort((-score, position, doc))
    doc, position = doc[order], position[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (doc[1:] != doc[:-1]) | (position[1:] != position[:-1])
    order = order[keep]
    window, slot = window[order], slot[order]
    lengths = np.asarray([len(ids) for ids in windows.input_ids], dtype=np.int64)
    flat = (np.cumsum(lengths) - lengths)[window] + slot
    return {
        "window": window,
        "slot": slot,
        "flat": flat,
        "doc": doc[keep],
        "position": position[keep],
        "offsets": _concat(windows.offsets, (0, 2))[flat],
        "word_ids": _concat(windows.word_ids, (0,))[flat],
    }


def _concat(arrays: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(empty_shape, dtype=np.int64)


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span `text[start:end]` without surrounding whitespace, which no token covers.

    SQuAD has gold answers such as " Denver Broncos" (leading space): labels are found for
    "Denver Broncos", and the decoded answer is that, without the space. Byte-level and sentencepiece
    offsets of an entity include the space before its word: the entity is the word.

    >>> strip_span("The Denver Broncos won.", 3, 18)
    (4, 18)
    """
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
