"""Contextual embeddings: sentence vectors, the vector of one word occurrence, and cosine similarities.

encode (the tokenizer, with offsets) → run (`runtime.Runtime`: last layer, or every layer) → decode
(`mean_pool`, `word_tokens` + `layer_mean`, `cosine_matrix`: pure numpy).

Sentence vectors are sentence-transformers' recipe for all-MiniLM-L6-v2 (the default model): the mean of
the last layer over all tokens of the text ([CLS] and [SEP] included), L2-normalised, the text cut at the
model's `max_seq_length` (256 for all-MiniLM-L6-v2, read from sentence_bert_config.json when the model has
one). A word vector is the mean of the word's sub-tokens at the chosen layers, so "apple" in "I am eating
an apple" and in "Apple is a huge company" get different vectors:

    find_word("Apple is big; I ate an apple.", "apple")  →  [(0, 5), (23, 28)]   (character spans)
    word_tokens(offsets, 23, 28)                          →  the token positions covering "apple"
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import is_integer, require_choice, require_count, require_text, require_texts
from ..encoding import TextInputs, text_inputs
from ..errors import InputError
from ..loading import DEFAULT, Model, minilm_dir
from .base import Task

LAYER_POOLS = ("mean", "concat")
LAST_LAYER = (-1,)


def find_word(text: str, word: str) -> list[tuple[int, int]]:
    """Character spans of every whole-word occurrence of `word` in `text`, ignoring case.

    >>> find_word("Apple pie, pineapple and APPLE.", "apple")
    [(0, 5), (25, 30)]
    """
    word = require_text(word, "word").strip()
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def word_span(text: str, word: str, occurrence: int = 1) -> tuple[int, int]:
    """The span of the `occurrence`-th (1-based) whole-word occurrence of `word`; an error if there is none.

    >>> word_span("The bank robber ran to the river bank.", "bank", 2)
    (33, 37)
    """
    spans = find_word(text, word)
    if not spans:
        raise InputError(f"{word.strip()!r} does not occur in the text as a whole word")
    if not is_integer(occurrence) or not 1 <= occurrence <= len(spans):
        times = "once" if len(spans) == 1 else f"{len(spans)} times"
        raise InputError(
            f"{word.strip()!r} occurs {times} in the text: occurrence {occurrence} does not exist"
        )
    return spans[occurrence - 1]


def word_tokens(offsets: np.ndarray, start: int, end: int) -> np.ndarray:
    """Positions of the tokens that cover any character of `text[start:end]` (special tokens never do).

    >>> offsets = np.array([[0, 0], [0, 3], [4, 7], [7, 10], [0, 0]])  # [CLS] the pine ##apple [SEP]
    >>> word_tokens(offsets, 4, 10).tolist()
    [2, 3]
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    covers = (offsets[:, 1] > offsets[:, 0]) & (offsets[:, 0] < end) & (offsets[:, 1] > start)
    return np.flatnonzero(covers)


def check_layers(layers: Sequence[int], num_layers: int) -> list[int]:
    """Validate indices into hidden states (0 = embeddings, 1..n = layers, negative from the end).

    >>> check_layers([-4, -3, -2, -1], 6)
    [-4, -3, -2, -1]
    """
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise InputError(f"layers must be a list of layer indices, got {layers!r}")
    layers = list(layers)
    if not layers:
        raise InputError("give at least one layer")
    for layer in layers:
        if not is_integer(layer) or not -(num_layers + 1) <= layer <= num_layers:
            raise InputError(
                f"layer {layer} does not exist: the model has {num_layers} layers (0 = the embeddings, "
                f"1..{num_layers}, or -1..-{num_layers + 1} from the last)"
            )
    return layers


def layer_mean(
    hidden: np.ndarray, tokens: np.ndarray, layers: Sequence[int], pool: str = "mean"
) -> np.ndarray:
    """A word's vector: its tokens' mean at each chosen layer, then the layers averaged (or concatenated).

    Args:
        hidden: one window's hidden states, [layers + 1, length, hidden].
        tokens: positions of the word's tokens.
        layers: indices into the first axis of `hidden`.
        pool: "mean" (one hidden-size vector) or "concat" (len(layers) x hidden).
    """
    require_choice(pool, "layer pooling", LAYER_POOLS)
    per_layer = hidden[list(layers)][:, tokens].mean(axis=1)  # [chosen layers, hidden]
    return per_layer.mean(axis=0) if pool == "mean" else per_layer.reshape(-1)


def mean_pool(token_vectors: list[np.ndarray], normalize: bool = True) -> np.ndarray:
    """Sentence vectors: the mean over each text's tokens, optionally L2-normalised.

    >>> mean_pool([np.array([[3.0, 0.0], [3.0, 8.0]])]).tolist()
    [[0.6, 0.8]]
    """
    vectors = np.stack([x.mean(axis=0) for x in token_vectors])
    return l2_normalize(vectors) if normalize else vectors


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b` (default: `a` itself).

    >>> cosine_matrix(np.array([[1.0, 0.0], [1.0, 1.0]])).round(3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    a = l2_normalize(np.asarray(a, dtype=np.float64))
    b = a if b is None else l2_normalize(np.asarray(b, dtype=np.float64))
    return np.clip(a @ b.T, -1.0, 1.0)


@dataclass
class WordVector:
    """The vector of one occurrence of a word: `texts[text_index][start:end]` is the word as written.

    Args:
        text_index: which of the given texts it is in.
        start, end: character span in that text.
        word: the word as written there.
        tokens: its sub-tokens.
        vector: the mean of its sub-tokens at the chosen layers.
    """

    text_index: int
    start: int
    end: int
    word: str
    tokens: list[str]
    vector: np.ndarray

    def to_dict(self, with_vector: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text_index": self.text_index,
            "start": self.start,
            "end": self.end,
            "word": self.word,
            "tokens": self.tokens,
        }
        if with_vector:
            out["vector"] = self.vector.tolist()
        return out


def sentence_max_length(model: Model) -> int:
    """sentence-transformers' `max_seq_length` when the model directory has a sentence_bert_config.json,
    else the model's own limit."""
    folder = minilm_dir() if model.name == DEFAULT else Path(model.name)
    try:
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return min(int(config["max_seq_length"]), model.max_length)
    except (OSError, ValueError, KeyError, TypeError):
        return model.max_length


class Embedder(Task):
    """Contextual embeddings from an encoder: sentences, word occurrences, similarities.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default
            (all-MiniLM-L6-v2, a real sentence-embedding model).
        max_length: tokens a sentence is cut to (default: see `sentence_max_length`).
        dtype, threads, max_tokens: see `tasks.base.Task`.

    >>> embed = Embedder()  # doctest: +SKIP
    >>> embed.similarity(["A man is eating food.", "A man eats a meal.", "The sky is blue."]).round(2)  # doctest: +SKIP
    array([[1.  , 0.75, 0.03], ...
    >>> a, b = embed.word_vectors(["Apple is a huge company", "I am eating an apple"], "apple")  # doctest: +SKIP
    """

    task = "base"

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        max_length: int | None = None,
        dtype: str = "auto",
        threads: int | None = None,
        max_tokens: int | None = None,
        light_start: bool = True,
    ):
        if max_length is not None:
            require_count(max_length, "max_length", minimum=2)
        super().__init__(model, dtype=dtype, threads=threads, max_tokens=max_tokens, light_start=light_start)
        self.max_length = max_length or sentence_max_length(self.model)
        if self.max_length > self.model.max_length:
            raise InputError(
                f"max_length {self.max_length} exceeds the model's limit of {self.model.max_length}"
            )

    @property
    def num_layers(self) -> int:
        return int(self.model.module.config.num_hidden_layers)

    def _inputs(self, texts: list[str], truncate: bool) -> tuple[TextInputs, Any]:
        tokenizer = self.model.tokenizer
        limit = self.max_length if truncate else self.model.max_length
        batch = tokenizer(
            texts, truncation=truncate, max_length=limit if truncate else None, return_offsets_mapping=True
        )
        return text_inputs(tokenizer, batch, None if truncate else limit), batch

    def encode(self, texts: list[str], *, normalize: bool = True) -> np.ndarray:
        """Sentence vectors [len(texts), hidden]: mean pooling of the last layer (see the module doc)."""
        require_texts(texts, "texts")
        if not texts:
            return np.zeros((0, int(self.model.module.config.hidden_size)), dtype=np.float32)
        inputs, _ = self._inputs(texts, truncate=True)
        hidden = self.run(inputs, ("last_hidden_state",))["last_hidden_state"]
        return mean_pool(hidden, normalize=normalize).astype(np.float32)

    def similarity(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of every pair of texts' sentence vectors, [len(texts), len(texts)]."""
        return cosine_matrix(self.encode(texts))

    def word_vectors(
        self,
        texts: list[str],
        word: str,
        *,
        occurrence: int | None = None,
        layers: Sequence[int] = LAST_LAYER,
        layer_pool: str = "mean",
    ) -> list[WordVector]:
        """Vectors of a word's occurrences in texts (whole words, any case), in text order.

        Args:
            texts: the texts to look in; each must hold the word.
            word: the word; matched on word boundaries, ignoring case.
            occurrence: take only the n-th (1-based) occurrence in each text; default: all of them.
            layers: hidden-state indices to average: 0 = embeddings, 1..n layers, -1 = last,
                e.g. (-4, -3, -2, -1) for the last four.
            layer_pool: "mean" of the layers, or "concat" (len(layers) x hidden).
        """
        layers = check_layers(layers, self.num_layers)
        require_choice(layer_pool, "layer pooling", LAYER_POOLS)
        require_texts(texts, "texts")
        if occurrence is not None:
            require_count(occurrence, "occurrence")
        if not texts:
            return []
        spans = []
        for t, text in enumerate(texts):
            try:
                found = [word_span(text, word, occurrence or 1)]
                if occurrence is None:
                    found = find_word(text, word)
            except InputError as error:
                if len(texts) == 1:
                    raise
                raise InputError(f"text {t + 1} of {len(texts)}: {error}") from None
            spans += [(t, start, end) for start, end in found]
        inputs, batch = self._inputs(texts, truncate=False)
        hidden = self.run(inputs, ("hidden_states",))["hidden_states"]
        vectors = []
        for t, s, e in spans:
            tokens = word_tokens(np.asarray(batch["offset_mapping"][t]), s, e)
            vector = layer_mean(hidden[t], tokens, layers, layer_pool)
            names = batch.encodings[t].tokens
            vectors.append(WordVector(t, s, e, texts[t][s:e], [names[i] for i in tokens], vector))
        return vectors

    def word_vector(
        self,
        text: str,
        word: str,
        *,
        occurrence: int = 1,
        layers: Sequence[int] = LAST_LAYER,
        layer_pool: str = "mean",
    ) -> WordVector:
        """The vector of the `occurrence`-th (1-based) occurrence of `word` in `text` (see `word_vectors`)."""
        found = self.word_vectors([text], word, occurrence=occurrence, layers=layers, layer_pool=layer_pool)
        return found[0]
