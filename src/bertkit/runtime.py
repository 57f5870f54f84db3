"""The one place that knows about torch: batching by length, dynamic padding, dtype and threads.

Tasks hand the runtime windows of different lengths; it sorts them by length, packs them into batches
under a token budget, pads each batch only to its own longest window, runs the model under
`torch.inference_mode`, and returns per-window float32 numpy arrays in the original order. Torch's threads
are set only while it runs (`torch_threads`): the process's own setting is given back afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError

DTYPES = ("fp32", "bf16")

# Outputs a model returns only when asked (the flag), one tensor per layer: stacked per window, layers first.
LAYERED_OUTPUTS = {"hidden_states": "output_hidden_states", "attentions": "output_attentions"}
# The token axes of one window's output (batch axis removed, layers stacked first); any other output has
# its token axis first: [length, ...].
TOKEN_AXES = {
    "hidden_states": (1,),  # [layers + 1, length, hidden]: the embeddings, then each layer
    "attentions": (2, 3),  # [layers, heads, length (from), length (to)]
}


def cpu_threads() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op threads set to `threads` inside, and given back as they were afterwards: a runtime
    never changes the threads of the process that uses it (a training loop keeps its own)."""
    import torch

    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads != before:
            torch.set_num_threads(before)


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
        threads: torch intra-op threads while it runs (the process's setting is given back afterwards);
            default: the cores this process may use.
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
        if dtype == "bf16":
            module = copy.deepcopy(module).to(torch.bfloat16)
        self.module = module.eval()
        self.dtype = dtype
        self.threads = threads
        self.max_tokens = max_tokens
        self.max_batch = max_batch
        self.pad_token_id = pad_token_id
        self.stats = {"windows": 0, "tokens": 0, "padded_tokens": 0, "batches": 0}

    def forward(
        self,
        inputs: dict[str, list[np.ndarray]],
        outputs: Sequence[str],
        *,
        token_axes: Mapping[str, tuple[int, ...]] | None = None,
        rows: Sequence[np.ndarray] | None = None,
    ) -> dict[str, list[np.ndarray]]:
        """Run the model on windows and return the named outputs, one array per window.

        Args:
            inputs: model input name → per-window 1-D int arrays (e.g. input_ids, token_type_ids).
                attention_mask is built here.
            outputs: names of model outputs to return. Per-layer outputs (`hidden_states`,
                `attentions`) are requested from the model and stacked, layers first.
            token_axes: output name → the axes of one window's array that run over tokens, each
                trimmed to the window's length. Default (0,): outputs of shape [batch, length, ...];
                see `TOKEN_AXES` for the per-layer ones; () for per-sequence outputs (NSP logits).
            rows: per window, the token positions to keep on the first token axis (e.g. the masks
                of fill-mask, so that [length, vocab] logits are not all kept); default: all.
        """
        import torch

        windows = inputs["input_ids"]
        lengths = [len(w) for w in windows]
        axes = {name: (token_axes or {}).get(name, TOKEN_AXES.get(name, (0,))) for name in outputs}
        flags = {LAYERED_OUTPUTS[name]: True for name in outputs if name in LAYERED_OUTPUTS}
        result: dict[str, list[Any]] = {name: [None] * len(windows) for name in outputs}
        with torch.inference_mode(), torch_threads(self.threads or cpu_threads()):
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
                # Without padding, no mask: SDPA takes its fast path.
                if any(lengths[i] < width for i in batch):
                    tensors["attention_mask"] = torch.from_numpy(
                        pad([np.ones(lengths[i], np.int64) for i in batch], width, 0)
                    )
                out = self.module(**tensors, **flags)
                self.stats["windows"] += len(batch)
                self.stats["tokens"] += sum(lengths[i] for i in batch)
                self.stats["padded_tokens"] += len(batch) * width
                self.stats["batches"] += 1
                for name in outputs:
                    value = out[name]
                    if isinstance(value, tuple | list):  # one tensor per layer → [batch, layers, ...]
                        value = torch.stack(tuple(value), dim=1)
                    values = value.float().numpy()
                    for row, i in enumerate(batch):
                        result[name][i] = window_output(
                            values[row], lengths[i], axes[name], None if rows is None else rows[i]
                        )
        return result


def window_output(
    values: np.ndarray, length: int, axes: tuple[int, ...], rows: np.ndarray | None = None
) -> np.ndarray:
    """One window's output: every token axis trimmed to the window's length, then `rows` kept.

    >>> attention = np.ones((2, 3, 5, 5))  # [layers, heads, padded length, padded length]
    >>> window_output(attention, 4, (2, 3)).shape
    (2, 3, 4, 4)
    >>> window_output(np.arange(10).reshape(5, 2), 4, (0,), rows=np.array([1, 3])).tolist()
    [[2, 3], [6, 7]]
    """
    index = [slice(None)] * values.ndim
    for axis in axes:
        index[axis] = slice(0, length)
    values = values[tuple(index)]
    if rows is not None and axes:
        values = np.take(values, rows, axis=axes[0])
    return values


def pad(rows: Sequence[np.ndarray], width: int, value: int) -> np.ndarray:
    """Stack 1-D int arrays into [len(rows), width], right-padded with `value`."""
    out = np.full((len(rows), width), value, dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, : len(row)] = row
    return out
