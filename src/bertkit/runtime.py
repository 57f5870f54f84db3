"""The one place that knows about torch: batching by length, dynamic padding, dtype and threads.

Tasks hand the runtime windows of different lengths; it sorts them by length, packs them into batches
under a token budget, pads each batch only to its own longest window, runs the model under
`torch.inference_mode`, and returns per-window float32 numpy arrays in the original order.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .errors import InputError

DTYPES = ("fp32", "bf16")


def cpu_threads() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def length_batches(lengths: Sequence[int], max_tokens: int, max_batch: int) -> Iterator[np.ndarray]:
    """Group window indices into batches of similar length, longest first.

    A batch of n windows padded to length L costs n*L tokens; it stays within `max_tokens` (a single
    window longer than the budget still forms its own batch).

    >>> [b.tolist() for b in length_batches([5, 9, 7, 9], max_tokens=18, max_batch=8)]
    [[1, 3], [2, 0]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    start = 0
    while start < len(order):
        longest = lengths[order[start]]
        size = max(1, min(max_batch, max_tokens // max(longest, 1)))
        yield order[start : start + size]
        start += size


class Runtime:
    """Runs a transformers module over variable-length windows.

    Args:
        module: a transformers model (it is copied, not changed, when a different dtype is asked for).
        dtype: "fp32", or "bf16" (weights and activations in bfloat16: ~2x faster on CPUs with bf16
            matrix units; outputs are returned as float32).
        threads: torch intra-op threads; default: the cores this process may use.
        max_tokens: padded tokens per batch.
        max_batch: windows per batch.
        pad_token_id: the id used to pad input_ids.
    """

    def __init__(
        self,
        module: Any,
        dtype: str = "fp32",
        threads: int | None = None,
        max_tokens: int = 8192,
        max_batch: int = 64,
        pad_token_id: int = 0,
    ):
        import torch

        if dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        torch.set_num_threads(threads or cpu_threads())
        if dtype == "bf16":
            module = copy.deepcopy(module).to(torch.bfloat16)
        self.module = module.eval()
        self.dtype = dtype
        self.max_tokens = max_tokens
        self.max_batch = max_batch
        self.pad_token_id = pad_token_id
        self.stats = {"windows": 0, "tokens": 0, "padded_tokens": 0, "batches": 0}

    def forward(
        self, inputs: dict[str, list[np.ndarray]], outputs: Sequence[str]
    ) -> dict[str, list[np.ndarray]]:
        """Run the model on windows and return the named per-token outputs, one array per window.

        Args:
            inputs: model input name → per-window 1-D int arrays (e.g. input_ids, token_type_ids).
                attention_mask is built here.
            outputs: names of model outputs of shape [batch, length, ...] to return, trimmed to each
                window's length.
        """
        import torch

        windows = inputs["input_ids"]
        lengths = [len(w) for w in windows]
        result: dict[str, list[Any]] = {name: [None] * len(windows) for name in outputs}
        with torch.inference_mode():
            for batch in length_batches(lengths, self.max_tokens, self.max_batch):
                width = max(lengths[i] for i in batch)
                tensors = {
                    name: torch.from_numpy(
                        pad(
                            [values[i] for i in batch], width, self.pad_token_id if name == "input_ids" else 0
                        )
                    )
                    for name, values in inputs.items()
                }
                if any(lengths[i] < width for i in batch):  # without padding, no mask: SDPA takes its fast path
                    tensors["attention_mask"] = torch.from_numpy(
                        pad([np.ones(lengths[i], np.int64) for i in batch], width, 0)
                    )
                out = self.module(**tensors)
                self.stats["windows"] += len(batch)
                self.stats["tokens"] += sum(lengths[i] for i in batch)
                self.stats["padded_tokens"] += len(batch) * width
                self.stats["batches"] += 1
                for name in outputs:
                    values = out[name].float().numpy()
                    for row, i in enumerate(batch):
                        result[name][i] = values[row, : lengths[i]]
        return result


def pad(rows: Sequence[np.ndarray], width: int, value: int) -> np.ndarray:
    """Stack 1-D int arrays into [len(rows), width], right-padded with `value`."""
    out = np.full((len(rows), width), value, dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, : len(row)] = row
    return out
