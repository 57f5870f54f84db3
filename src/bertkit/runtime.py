"""The one place that knows about torch: batching by length, dynamic padding, dtype and threads.

Tasks hand the runtime windows of different lengths; it sorts them by length, packs them into batches
under a token budget, pads each batch only to its own longest window, runs the model under
`torch.inference_mode`, and returns per-window float32 numpy arrays in the original order. Torch's threads
are set only while it runs (`torch_threads`): the process's own setting is given back afterwards.

The dtype is "auto" unless asked for (`resolve_dtype`): bf16 where the CPU has bf16 matrix units (AMX, or
AVX-512 BF16) and torch runs its AVX-512 kernels, else fp32; "int8" quantizes the linear
layers (`quantize.quantize_linears`). `BERTKIT_DTYPE=fp32` makes "auto" mean fp32 (the same scores on every
machine).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError

DTYPES = ("fp32", "bf16", "int8")
AUTO = "auto"  # bf16 where the CPU runs it fast, else fp32 (`resolve_dtype`)
DTYPE_ENV = "BERTKIT_DTYPE"  # when set, what "auto" stands for (e.g. fp32: the same scores on every machine)
# CPU flags (Linux /proc/cpuinfo) of units that run bf16 matrix products fast, best first.
BF16_UNITS = {"amx_bf16": "AMX", "avx512_bf16": "AVX-512 BF16"}

# Tokens of work below which one thread is faster than several: the matmuls of a short question are too small
# to share, and where other work shares the cores each extra thread is a wait (a 15-token answer took 0.014 s
# on one thread, 0.48 s on two, with other jobs running).
SMALL_WORK_TOKENS = 256
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


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (the `flags` line of Linux's /proc/cpuinfo); empty where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:  # pragma: no cover - not Linux
        pass
    return frozenset()


def torch_cpu_capability() -> str:
    """The vector kernels torch dispatches to on this CPU: "AVX512", "AVX2", "DEFAULT", ..."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def dtype_for_cpu(flags: Iterable[str], capability: str) -> tuple[str, str]:
    """What "auto" runs in on a CPU with these `flags` and torch `capability`, and why.

    bf16 needs both the matrix units and torch's AVX-512 kernels (with ATEN_CPU_CAPABILITY=avx2 the
    layer norms, softmax and GELU of a bf16 model would run in slow emulation).

    >>> dtype_for_cpu({"avx512f", "avx512_bf16", "amx_bf16"}, "AVX512")
    ('bf16', 'the CPU has AMX (amx_bf16)')
    >>> dtype_for_cpu({"avx512f", "avx512_bf16"}, "AVX2")
    ('fp32', 'the CPU has AVX-512 BF16 (avx512_bf16), but torch runs its AVX2 kernels')
    >>> dtype_for_cpu({"avx2", "fma"}, "AVX2")
    ('fp32', 'no bf16 matrix units (amx_bf16, avx512_bf16) among the CPU flags')
    """
    flags = set(flags)
    for flag, unit in BF16_UNITS.items():
        if flag in flags:
            if not capability.startswith("AVX512"):
                return "fp32", f"the CPU has {unit} ({flag}), but torch runs its {capability} kernels"
            return "bf16", f"the CPU has {unit} ({flag})"
    return "fp32", f"no bf16 matrix units ({', '.join(BF16_UNITS)}) among the CPU flags"


def resolve_dtype(
    dtype: str = AUTO, flags: Iterable[str] | None = None, capability: str | None = None
) -> tuple[str, str]:
    """The dtype a runtime runs in, and why: `dtype` itself when it is one of `DTYPES`; for "auto", the
    value of $BERTKIT_DTYPE when set, else `dtype_for_cpu`.

    Args:
        dtype: "auto", "fp32", "bf16" or "int8".
        flags: the CPU flags to decide from (default: this machine's, `cpu_flags`).
        capability: torch's CPU capability (default: this process's, `torch_cpu_capability`).
    """
    if dtype == AUTO:
        chosen = os.environ.get(DTYPE_ENV, "").strip().lower()
        if chosen not in ("", AUTO):
            return check_dtype(chosen, f"${DTYPE_ENV}"), f"{DTYPE_ENV}={chosen}"
        flags = cpu_flags() if flags is None else flags
        # torch's kernels matter only where the CPU has bf16 units (no torch import elsewhere)
        if capability is None:
            capability = torch_cpu_capability() if set(flags) & set(BF16_UNITS) else ""
        return dtype_for_cpu(flags, capability)
    return check_dtype(dtype), "asked for"


def light_dtype(dtype: str = AUTO, flags: Iterable[str] | None = None) -> tuple[str, str] | None:
    """What the numpy forward (`numpy_bert`, fp32 only) runs in for `dtype`, and why; None when it cannot
    serve it (bf16 or int8 asked for, or set by $BERTKIT_DTYPE). Left to the CPU, "auto" lets a short input
    run in fp32 on numpy even where longer work runs bf16: importing torch (1-2 s) costs more than a
    short forward, and asking torch which kernels it runs would import it (`resolve_dtype`).

    >>> light_dtype("bf16") is None
    True
    """
    flags = set(cpu_flags() if flags is None else flags)
    env = os.environ.get(DTYPE_ENV, "").strip().lower()
    units = [unit for flag, unit in BF16_UNITS.items() if flag in flags]
    if dtype == AUTO and env in ("", AUTO) and units:
        return "fp32", (
            "a short input runs in fp32 on the numpy forward, without importing torch (longer work "
            f"runs on torch, in bf16 where it runs its AVX-512 kernels: the CPU has {units[0]})"
        )
    chosen = resolve_dtype(dtype, flags)
    return chosen if chosen[0] == "fp32" else None


def check_dtype(dtype: str, what: str = "dtype") -> str:
    """`dtype` if it is one of `DTYPES`, else an `InputError` that lists them."""
    if dtype not in DTYPES:
        raise InputError(f"{what} must be one of {', '.join(DTYPES)} or {AUTO}, got {dtype!r}")
    return dtype


def converted(module: Any, dtype: str) -> Any:
    """`module` for running in `dtype`: itself for fp32, else a converted copy (the caller's stays as it is)."""
    import torch

    if dtype == "bf16":
        from .inference_bert import from_transformers

        # A transformers BERT runs on bertkit's forward (its fused bf16 linears): a new module over the same
        # tensors, so converting it leaves the caller's weights as they are and needs no copy first.
        fast = from_transformers(module)
        return (fast if fast is not None else copy.deepcopy(module)).to(torch.bfloat16)
    if dtype == "int8":
        from .quantize import quantize_linears

        return quantize_linears(module)
    return module


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


# Padded tokens per batch in fp32 (bf16 and int8 keep the task's budget, 8,192 for QA: measured on AMX).
# Measured on an AVX2-only Zen 4 (2026-12-03; 80 bench documents, 1,737-window bench's first 80, alternated
# runs, the same answers at every size): 768 tokens → 10.6 windows/s, 1,536 → 11.4-13.2, 3,072 → 11.9,
# 8,192 → 10.4-10.7. Two windows of 384 tokens and their 1,536-wide activations stay in the caches; 21 do not.
FP32_BATCH_TOKENS = 1536


def batch_tokens(dtype: str, budget: int) -> int:
    """The padded tokens per batch a runtime in `dtype` uses when none are asked for: the task's `budget`,
    at most `FP32_BATCH_TOKENS` in fp32.

    >>> batch_tokens("fp32", 8192), batch_tokens("bf16", 8192), batch_tokens("fp32", 1024)
    (1536, 8192, 1024)
    """
    return min(budget, FP32_BATCH_TOKENS) if dtype == "fp32" else budget


def length_batches(lengths: Sequence[int], max_tokens: int, max_batch: int) -> Iterator[np.ndarray]:
    """Group window indices into batches of similar length, longest first.

    A batch of n windows padded to length L costs n*L tokens; it stays within `max_tokens` (a single
    window longer than the budget still forms its own batch). A window shorter than half the batch's
    longest starts the next batch, so padding at most doubles a window's cost (one 384-token window among
    short questions would otherwise pad 20 of them to 384 tokens).

    >>> [b.tolist() for b in length_batches([5, 9, 7, 9], max_tokens=18, max_batch=8)]
    [[1, 3], [2, 0]]
    >>> [b.tolist() for b in length_batches([30, 384, 40], max_tokens=8192, max_batch=64)]
    [[1], [2, 0]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    start = 0
    while start < len(order):
        longest = lengths[order[start]]
        stop = min(len(order), start + max(1, min(max_batch, max_tokens // max(longest, 1))))
        while stop - start > 1 and 2 * lengths[order[stop - 1]] < longest:
            stop -= 1
        yield order[start:stop]
        start = stop


class Runtime:
    """Runs a transformers module over variable-length windows.

    Args:
        module: a transformers model (it is copied, not changed, when a different dtype is asked for).
        dtype: "auto" (bf16 where the CPU has bf16 matrix units, else fp32: `resolve_dtype`), "fp32",
            "bf16" (weights and activations in bfloat16: 2-4x faster on CPUs with bf16 matrix units), or
            "int8" (linear layers quantized: `quantize.quantize_linears`); outputs are returned as float32.
        threads: torch intra-op threads (BLAS threads for a `numpy_bert` module) while it runs (the process's
            setting is given back afterwards);
            default: the cores this process may use (one for less than `SMALL_WORK_TOKENS` tokens).
        max_tokens: padded tokens per batch (None: `batch_tokens(dtype, budget)`).
        budget: the task's padded tokens per batch when none are asked for (capped in fp32).
        max_batch: windows per batch.
        pad_token_id: the id used to pad input_ids.
    """

    def __init__(
        self,
        module: Any,
        dtype: str = AUTO,
        threads: int | None = None,
        max_tokens: int | None = None,
        max_batch: int = 64,
        pad_token_id: int = 0,
        budget: int = 8192,
    ):
        from .numpy_bert import NumpyBert

        self.dtype_asked = dtype
        self.on_numpy = isinstance(module, NumpyBert)
        if self.on_numpy:
            light = light_dtype(dtype)
            if light is None:
                raise InputError(f"the numpy forward runs in fp32 only, not {resolve_dtype(dtype)[0]}")
            self.dtype, self.dtype_reason = light
            self.module = module
        else:
            self.dtype, self.dtype_reason = resolve_dtype(dtype)
            # One thread for the copy: memory-bound work, where more threads wait for each other on a busy
            # machine.
            with torch_threads(1):
                self.module = converted(module, self.dtype).eval()
        self.threads = threads
        self.max_tokens = max_tokens or batch_tokens(self.dtype, budget)
        self.max_batch = max_batch
        self.pad_token_id = pad_token_id
        self.stats = {"windows": 0, "tokens": 0, "padded_tokens": 0, "batches": 0}

    @property
    def notes(self) -> list[str]:
        """What a user should know about how it runs: the dtype "auto" chose from the CPU, and why (nothing
        when the dtype was asked for, or set by $BERTKIT_DTYPE)."""
        if self.dtype_asked != AUTO or self.dtype_reason.startswith(f"{DTYPE_ENV}="):
            return []
        return [f"running in {self.dtype}, chosen by dtype auto: {self.dtype_reason} (--dtype to choose)"]

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
        windows = inputs["input_ids"]
        lengths = [len(w) for w in windows]
        axes = {name: (token_axes or {}).get(name, TOKEN_AXES.get(name, (0,))) for name in outputs}
        flags = {LAYERED_OUTPUTS[name]: True for name in outputs if name in LAYERED_OUTPUTS}
        result: dict[str, list[Any]] = {name: [None] * len(windows) for name in outputs}
        threads = self.threads or (1 if sum(lengths) < SMALL_WORK_TOKENS else cpu_threads())
        with self.running(threads):
            for batch in length_batches(lengths, self.max_tokens, self.max_batch):
                width = max(lengths[i] for i in batch)
                arrays = {
                    name: pad(
                        [values[i] for i in batch], width, self.pad_token_id if name == "input_ids" else 0
                    )
                    for name, values in inputs.items()
                }
                # Without padding, no mask: SDPA takes its fast path.
                if any(lengths[i] < width for i in batch):
                    arrays["attention_mask"] = pad([np.ones(lengths[i], np.int64) for i in batch], width, 0)
                out = self.run_batch(arrays, outputs, flags)
                self.stats["windows"] += len(batch)
                self.stats["tokens"] += sum(lengths[i] for i in batch)
                self.stats["padded_tokens"] += len(batch) * width
                self.stats["batches"] += 1
                for name in outputs:
                    values = out[name]
                    for row, i in enumerate(batch):
                        result[name][i] = window_output(
                            values[row], lengths[i], axes[name], None if rows is None else rows[i]
                        )
        return result

    @contextlib.contextmanager
    def running(self, threads: int) -> Iterator[None]:
        """Torch's inference mode and `threads` while a forward runs (the BLAS threads of the numpy forward)."""
        if self.on_numpy:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(threads, user_api="blas"):
                yield
            return
        import torch

        with torch.inference_mode(), torch_threads(threads):
            yield

    def run_batch(
        self, arrays: dict[str, np.ndarray], outputs: Sequence[str], flags: dict[str, bool]
    ) -> dict[str, np.ndarray]:
        """The module's `outputs` on one padded batch, as float32 arrays (per-layer outputs stacked
        [batch, layers, ...])."""
        if self.on_numpy:
            out = self.module(**arrays, **flags)
            return {
                name: np.stack(out[name], axis=1) if isinstance(out[name], tuple | list) else out[name]
                for name in outputs
            }
        import torch

        out = self.module(**{name: torch.from_numpy(value) for name, value in arrays.items()}, **flags)
        found = {}
        for name in outputs:
            value = out[name]
            if isinstance(value, tuple | list):  # one tensor per layer → [batch, layers, ...]
                value = torch.stack(tuple(value), dim=1)
            found[name] = value.float().numpy()
        return found


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
