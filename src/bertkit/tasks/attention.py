"""Attention weights: who attends to whom, per layer and head, and what one word attends to.

encode (the tokenizer, with offsets) → run (`runtime.Runtime`, model loaded with eager attention so the
weights are returned: [layers, heads, length, length] per text) → decode (`select`, `attends_to`: pure
numpy).

`weights[l, h, i, j]` is how much token i attends to token j in head h of layer l (0-based; -1 = last);
each row sums to 1. Asking for no layer (or no head) averages over all of them:

    select(weights, layer=None, head=None)  → mean over layers and heads, [length, length]
    select(weights, layer=-1, head=None)    → the last layer, mean over its heads
    attends_to("apple")                     → what "apple" attends to: one weight per token (`row`) and
                                              the tokens best first (`ranked`); a word of several
                                              sub-tokens: the mean of their rows
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import is_integer, require_texts
from ..encoding import text_inputs
from ..errors import InputError
from .base import Task
from .embeddings import word_span, word_tokens


def check_index(value: int | None, size: int, what: str) -> int | None:
    """A valid 0-based (or negative) index into `size` items, or None (= all, averaged).

    >>> check_index(-1, 6, "layer")
    5
    """
    if value is None:
        return None
    if not is_integer(value) or not -size <= value < size:
        raise InputError(
            f"{what} {value} does not exist: the model has {size} {what}s (0..{size - 1}, or -1 for the last)"
        )
    return value % size


def select(weights: np.ndarray, layer: int | None = None, head: int | None = None) -> np.ndarray:
    """The [length, length] attention of one layer/head; None averages over that axis.

    >>> w = np.zeros((2, 2, 1, 1)); w[1, 0] = 1.0
    >>> select(w, layer=1).tolist(), select(w).tolist()
    ([[0.5]], [[0.25]])
    """
    layers, heads = weights.shape[:2]
    layer = check_index(layer, layers, "layer")
    head = check_index(head, heads, "head")
    chosen = weights if layer is None else weights[layer : layer + 1]
    chosen = chosen if head is None else chosen[:, head : head + 1]
    return chosen.mean(axis=(0, 1))


@dataclass(frozen=True)
class TokenWeight:
    """How much the chosen word attends to one token (`start:end` are its characters; (0, 0) if special)."""

    index: int
    token: str
    start: int
    end: int
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "token": self.token,
            "start": self.start,
            "end": self.end,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class WordAttention:
    """What one word attends to, in a chosen layer and head (None: averaged over them).

    Args:
        word: the word as written in the text, `text[start:end]`.
        start, end: its characters.
        token_indices: its sub-tokens' positions.
        layer, head: non-negative indices, or None where averaged over.
        row: [length] weights, one per token in text order (the mean of the word's sub-tokens' rows).
        ranked: the same weights as `TokenWeight`s, most first.
    """

    word: str
    start: int
    end: int
    token_indices: np.ndarray
    layer: int | None
    head: int | None
    row: np.ndarray
    ranked: list[TokenWeight]

    @property
    def title(self) -> str:
        """The title of its picture: "what 'it' attends to (layer 1, head mean)"."""
        layer = "mean" if self.layer is None else self.layer
        head = "mean" if self.head is None else self.head
        return f"what {self.word!r} attends to (layer {layer}, head {head})"

    def to_dict(self) -> dict[str, Any]:
        """The `word` and `attends_to` keys of `AttentionWeights.to_dict`."""
        return {
            "word": {
                "text": self.word,
                "start": self.start,
                "end": self.end,
                "token_indices": self.token_indices.tolist(),
            },
            "attends_to": [t.to_dict() for t in self.ranked],
        }


@dataclass
class AttentionWeights:
    """One text's attention.

    Args:
        text: the text.
        tokens: its tokens (special tokens included).
        offsets: [length, 2] character span of each token in `text`.
        weights: [layers, heads, length (from), length (to)] float32.
    """

    text: str
    tokens: list[str]
    offsets: np.ndarray
    weights: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(x) for x in self.weights.shape)  # type: ignore[return-value]

    def select(self, layer: int | None = None, head: int | None = None) -> np.ndarray:
        """[length, length] weights of a layer/head, None averaging over all (see `select`)."""
        return select(self.weights, layer, head)

    def word_tokens(self, word: str, occurrence: int = 1) -> np.ndarray:
        """Token positions of the `occurrence`-th (1-based) whole-word, any-case occurrence of `word`."""
        start, end = word_span(self.text, word, occurrence)
        return word_tokens(self.offsets, start, end)

    def attends_to(
        self, word: str, occurrence: int = 1, layer: int | None = None, head: int | None = None
    ) -> WordAttention:
        """What the `occurrence`-th `word` attends to: the mean of its sub-tokens' rows of `select`.

        >>> weights = AttentionWeights(  # [CLS] hi there [SEP], one layer and head
        ...     "hi there", ["[CLS]", "hi", "there", "[SEP]"], np.array([[0, 0], [0, 2], [3, 8], [0, 0]]),
        ...     np.array([[[[0.1, 0.2, 0.3, 0.4]] * 4]]))
        >>> chosen = weights.attends_to("there")
        >>> chosen.row.tolist(), chosen.ranked[0].token, chosen.title
        ([0.1, 0.2, 0.3, 0.4], '[SEP]', "what 'there' attends to (layer mean, head mean)")
        """
        layers, heads = self.shape[:2]
        layer, head = check_index(layer, layers, "layer"), check_index(head, heads, "head")
        start, end = word_span(self.text, word, occurrence)
        rows = word_tokens(self.offsets, start, end)
        weights = self.select(layer, head)[rows].mean(axis=0)
        order = np.argsort(-weights, kind="stable")
        ranked = [
            TokenWeight(
                int(j), self.tokens[j], int(self.offsets[j, 0]), int(self.offsets[j, 1]), float(weights[j])
            )
            for j in order
        ]
        return WordAttention(self.text[start:end], start, end, rows, layer, head, weights, ranked)

    def to_dict(
        self,
        layer: int | None = None,
        head: int | None = None,
        word: str | None = None,
        occurrence: int = 1,
        full: bool = False,
    ) -> dict[str, Any]:
        """Plain data for JSON and pictures: tokens, shape, the selected [length, length] weights (all of
        them, [layers, heads, length, length], when `full`), and with `word` what that word attends to.

        `layer`/`head` come back as non-negative indices, or None where they were averaged over.
        """
        layers, heads = self.shape[:2]
        layer, head = check_index(layer, layers, "layer"), check_index(head, heads, "head")
        out: dict[str, Any] = {
            "text": self.text,
            "tokens": self.tokens,
            "offsets": self.offsets.tolist(),
            "shape": list(self.shape),
            "layer": layer,
            "head": head,
            "weights": (self.weights if full else self.select(layer, head)).tolist(),
        }
        if word is not None:
            out.update(self.attends_to(word, occurrence, layer, head).to_dict())
        return out


class AttentionInspector(Task):
    """The attention weights of an encoder over a text.

    Args:
        model: a `Model` (switched to eager attention, which returns the weights), a model directory, a Hub
            id, or None for the embedded default (all-MiniLM-L6-v2: 6 layers x 12 heads).
        dtype, threads, max_tokens: see `tasks.base.Task`.

    >>> inspector = AttentionInspector()  # doctest: +SKIP
    >>> weights = inspector("The animal didn't cross the street because it was too tired.")  # doctest: +SKIP
    >>> weights.shape  # doctest: +SKIP
    (6, 12, 16, 16)
    >>> weights.attends_to("it", layer=-1).ranked[0].token  # doctest: +SKIP
    """

    task = "base"
    attn_implementation = "eager"
    max_tokens = 2048

    def __call__(self, text: str) -> AttentionWeights:
        return self.weights_many([text])[0]

    def weights_many(self, texts: list[str]) -> list[AttentionWeights]:
        """Attention of several texts, batched; each text must fit in one model input."""
        require_texts(texts, "texts")
        if not texts:
            return []
        batch = self.model.tokenizer(texts, return_offsets_mapping=True)
        inputs = text_inputs(self.model.tokenizer, batch, self.model.max_length)
        attentions = self.run(inputs, ("attentions",))["attentions"]
        return [
            AttentionWeights(
                text=text,
                tokens=list(batch.encodings[i].tokens),
                offsets=np.asarray(batch["offset_mapping"][i], dtype=np.int64).reshape(-1, 2),
                weights=attentions[i],
            )
            for i, text in enumerate(texts)
        ]
