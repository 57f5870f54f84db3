"""Training rows into batches, the same for every task: the length-grouped order of an epoch, the seed of
each batch, rows padded into the model's inputs (and the forward pass over them that QA and NER losses
share), and the hash by which a resumed run knows its rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..runtime import pad

IGNORE = -100  # the label the loss skips (torch's cross-entropy `ignore_index`)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group_by_length: bool = True):
    """Row indices of each batch of one epoch, the same for the same (seed, epoch).

    Length grouping (as in transformers' LengthGroupedSampler): shuffle all rows, cut the shuffled list
    into buckets of 50 batches, sort each bucket by length, cut it into batches, then shuffle the batches.
    A batch holds rows of similar length, so padding to its longest row wastes little.

    Args:
        lengths: tokens of each row.
        batch_size: rows per batch (the last batch may hold fewer).
        seed, epoch: what the order is drawn from.
        group_by_length: batch rows of similar length together (else the batches are random).

    >>> [b.tolist() for b in epoch_batches(np.array([9, 3, 8, 2]), 2, seed=0, epoch=0)]
    [[1, 3], [0, 2]]
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if group_by_length:
        bucket = 50 * batch_size
        order = np.concatenate(
            [
                b[np.argsort(-lengths[b], kind="stable")]
                for b in np.split(order, range(bucket, len(order), bucket))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of batch `index` of `epoch`: the same batch gets the same random choices on every run."""
    return int(np.random.default_rng([seed, epoch, index]).integers(2**31))


def padded_inputs(
    input_ids: Sequence[np.ndarray],
    token_type_ids: Sequence[np.ndarray] | None,
    rows: Sequence[int] | np.ndarray,
    width: int | None = None,
    pad_token_id: int = 0,
) -> dict[str, np.ndarray]:
    """The model's inputs for `rows`, right-padded to `width` (default: the longest of them).

    Args:
        input_ids, token_type_ids: per row, as the model takes them (token_type_ids may be None).
        rows: which rows, in batch order.
        width: the padded length (None: the longest row's).
        pad_token_id: the id padding gets (its attention mask is 0).

    >>> inputs = padded_inputs([np.array([5, 6, 7]), np.array([8])], None, [1, 0], pad_token_id=9)
    >>> inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()
    ([[8, 9, 9], [5, 6, 7]], [[1, 0, 0], [1, 1, 1]])
    """
    lengths = [len(input_ids[i]) for i in rows]
    width = width or max(lengths)
    inputs = {
        "input_ids": pad([input_ids[i] for i in rows], width, pad_token_id),
        "attention_mask": pad([np.ones(n, np.int64) for n in lengths], width, 0),
    }
    if token_type_ids is not None:
        inputs["token_type_ids"] = pad([token_type_ids[i] for i in rows], width, 0)
    return inputs


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The entries of a batch that the model's forward pass takes (not its labels)."""
    return {k: v for k, v in batch.items() if k in MODEL_INPUTS}


def forward(module: Any, batch: dict[str, Any]) -> Any:
    """The module's outputs for a batch's model inputs.

    Under `fit`'s bf16 autocast the matrix products run in bf16 (the CPU's matrix units); each loss casts
    the logits to fp32 before its softmax, so only the encoder's products are in bf16. (Before 2026-12 the
    QA and NER losses switched autocast off here, which left their training in fp32: 2× slower on Zen 4.)
    """
    return module(**model_inputs(batch))


def rows_hash(arrays: Iterable[np.ndarray]) -> str:
    """A short hash of the bytes of `arrays`, in order: a resumed run must see the same rows.

    >>> rows_hash([np.array([1, 2], np.int32)]) == rows_hash([np.array([1], np.int32), np.array([2], np.int32)])
    True
    """
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def set_attention_dropout(module: Any, p: float) -> int:
    """Set the dropout on the attention probabilities of every self-attention layer to `p`; the number of
    layers changed. At 0 torch's SDPA takes its flash kernel in training too; with dropout on CPU it falls
    back to the math kernel, which materialises every attention map (MiniLM, 16 windows of 384 tokens, bf16
    on an AMX Xeon: 4.67 s a step with 0.1, 1.12 s with 0). Hidden-state dropout is left as it is."""
    import torch

    changed = 0
    for sub in module.modules():
        if type(sub).__name__.endswith("SelfAttention") and isinstance(
            getattr(sub, "dropout", None), torch.nn.Dropout
        ):
            sub.dropout.p = p
            changed += 1
    return changed
