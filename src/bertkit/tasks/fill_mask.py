"""Fill-mask: a text with one or more mask tokens → the likeliest tokens for each mask.

encode (`mask_inputs`) → run (`runtime.Runtime`, only the mask rows of the logits are kept) → decode
(`decode_fills`).

Results are shaped and scored exactly as transformers' `FillMaskPipeline` (v5) does: each mask gets a softmax
over the vocabulary of its own logits (masks are scored independently, not jointly), and `sequence` is the
input with that one mask replaced, decoded by the tokenizer, special tokens dropped when the text has one
mask and kept when it has several (so the other masks stay visible):

    "Paris is the [MASK] of France."   → [{score, token, token_str: "capital", sequence: "paris is the
                                          capital of france."}, ...]
    "[MASK] is the [MASK] of France."  → [[... first mask ...], [... second mask ...]]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..checks import require_count, require_texts
from ..decoding import softmax
from ..encoding import require_fits, uses_token_type_ids
from ..errors import InputError
from .base import Task


@dataclass(frozen=True)
class Fill:
    """One candidate for one mask, with the keys of the transformers pipeline."""

    score: float
    token: int
    token_str: str
    sequence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MaskedInputs:
    """Texts as token ids, with where their masks are.

    Args:
        input_ids: per text, int64 token ids.
        token_type_ids: per text segment ids (all 0), or None when the model takes none.
        masks: per text, the positions of its mask tokens.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    masks: list[np.ndarray]


def mask_inputs(tokenizer: Any, texts: list[str], max_length: int) -> MaskedInputs:
    """Tokenize texts that each hold at least one mask token (errors name the mask token to use)."""
    mask = tokenizer.mask_token
    if tokenizer.mask_token_id is None:
        raise InputError("this model's tokenizer has no mask token: fill-mask needs a masked-LM model")
    require_texts(texts, "texts")
    batch = tokenizer(texts, add_special_tokens=True, truncation=False)
    input_ids, types, masks = [], [], []
    for text, ids in zip(texts, batch["input_ids"], strict=True):
        ids = np.asarray(ids, dtype=np.int64)
        where = np.flatnonzero(ids == tokenizer.mask_token_id)
        if len(where) == 0:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise InputError(f"no {mask} in the text {shown!r}: write {mask} where a word is missing")
        require_fits(ids, max_length)
        input_ids.append(ids)
        types.append(np.zeros_like(ids))
        masks.append(where)
    return MaskedInputs(input_ids, types if uses_token_type_ids(tokenizer) else None, masks)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores of each row, best first (ties: lower index first).

    >>> top_k_indices(np.array([[0.1, 0.5, 0.2, 0.5]]), 3).tolist()
    [[1, 3, 2]]
    """
    k = min(k, scores.shape[-1])
    part = np.argpartition(-scores, k - 1, axis=-1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(scores, part, axis=-1)), axis=-1)
    return np.take_along_axis(part, order, axis=-1)


def decode_fills(
    mask_logits: np.ndarray, input_ids: np.ndarray, masks: np.ndarray, tokenizer: Any, top_k: int = 5
) -> list[list[Fill]]:
    """One text's candidates: for each mask, the top-k tokens with their probabilities.

    Args:
        mask_logits: [masks, vocab] logits at the mask positions.
        input_ids: the text's token ids.
        masks: the positions of its masks (rows of `mask_logits`, in the same order).
        tokenizer: decodes `token_str` and `sequence` exactly as the pipeline does.
        top_k: candidates per mask.
    """
    probs = softmax(mask_logits)
    best = top_k_indices(probs, top_k)
    single = len(masks) == 1
    pad = tokenizer.pad_token_id
    fills = []
    for m, position in enumerate(masks):
        row = []
        for token in best[m].tolist():
            ids = input_ids.copy()
            ids[position] = token
            if pad is not None:
                ids = ids[ids != pad]  # as the pipeline does (a predicted pad token vanishes too)
            sequence = tokenizer.decode(ids.tolist(), skip_special_tokens=single)
            row.append(Fill(float(probs[m, token]), int(token), tokenizer.decode([token]), sequence))
        fills.append(row)
    return fills


def pipeline_shape(fills: list[list[Fill]]) -> list[Fill] | list[list[Fill]]:
    """A text's fills as the pipeline returns them: a flat list for one mask, one list per mask otherwise."""
    return fills[0] if len(fills) == 1 else fills


class FillMask(Task):
    """Predict the tokens behind mask tokens (`[MASK]` for BERT, `<mask>` for RoBERTa: the model's own).

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default (all-MiniLM-L6-v2
            with the masked-LM head trained here, see docs/default-heads.md).
        dtype, threads: see `tasks.base.Task`.
        max_tokens: padded tokens per batch (the logits of a batch are [tokens, vocabulary] floats).

    >>> fill = FillMask("path/to/bert-base-uncased")  # doctest: +SKIP
    >>> fill("Paris is the [MASK] of France.", top_k=1)[0].token_str  # doctest: +SKIP
    'capital'
    """

    task = "mlm"
    max_tokens = 2048

    @property
    def mask_token(self) -> str:
        return self.model.tokenizer.mask_token

    def __call__(self, text: str, top_k: int = 5) -> list[Fill] | list[list[Fill]]:
        """Candidates for one text, shaped as the transformers pipeline shapes them (see `pipeline_shape`)."""
        return pipeline_shape(self.fill_many([text], top_k=top_k)[0])

    def fill_many(self, texts: list[str], top_k: int = 5) -> list[list[list[Fill]]]:
        """Candidates for many texts, batched: per text, per mask, the top-k fills best first."""
        require_count(top_k, "top_k")
        require_texts(texts, "texts")
        if not texts:
            return []
        tokenizer = self.model.tokenizer
        encoded = mask_inputs(tokenizer, texts, self.model.max_length)
        logits = self.run(encoded, ("logits",), rows=encoded.masks)["logits"]
        return [
            decode_fills(x, ids, masks, tokenizer, top_k)
            for x, ids, masks in zip(logits, encoded.input_ids, encoded.masks, strict=True)
        ]
