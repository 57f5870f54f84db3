"""Ship a fine-tuned model as what training changed: small deltas over base weights that a package provides.

A fine-tuned matrix W is stored as W - W_base quantised per row to signed integers with one float16 scale
per row; vectors (biases, LayerNorm), new tensors (the task head) and anything small are stored whole in
float16 or float32. Merging adds the dequantised delta back to the base tensor.

    delta = W - W_base                 # [rows, cols], small numbers
    scale = max|delta[row]| / 127      # one per row (bits=8)
    q = round(delta / scale)           # int8 in [-127, 127]
    W' = W_base + q * scale            # |W' - W| <= scale / 2 per element

Sizes: an int8 delta costs one byte per weight; `bits=4` packs two weights per byte.

A grown vocabulary (the Hangul-exact tokenizer appends 5,022 rows to MiniLM's 30,522) is stored row-sparse:
the base rows as a delta like any matrix (nothing when they did not change), the appended rows themselves,
int8 per row (their own values, there is no base for them):

    word_embeddings [35544, 384] over base [30522, 384]
        → .dq/.dscale for rows 0..30521 (left out: unchanged) + .rows/.rscale [5022, 384] int8
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SUFFIX_Q, SUFFIX_SCALE, SUFFIX_FULL = ".dq", ".dscale", ".full"
SUFFIX_ROWS, SUFFIX_ROWS_SCALE = ".rows", ".rscale"  # rows appended to a base matrix (int8 per row)


def compress(
    base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], bits: int = 8, min_numel: int = 4096
) -> dict[str, torch.Tensor]:
    """Delta tensors that turn `base` into (approximately) `tuned`.

    Args:
        base: the base model's state dict.
        tuned: the fine-tuned state dict (same names for shared tensors; new ones such as a task head).
        bits: 8 or 4, the integer width of quantised matrix deltas.
        min_numel: tensors smaller than this are stored whole (float32).
    Unchanged tensors are left out.
    """
    import torch

    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    levels = 2 ** (bits - 1) - 1
    out: dict[str, torch.Tensor] = {}
    for name, weight in tuned.items():
        weight = weight.detach().float()
        ref = base.get(name)
        if ref is not None and grown_rows(ref, weight):
            out.update(compress({name: ref}, {name: weight[: ref.shape[0]]}, bits, min_numel))
            out[name + SUFFIX_ROWS], out[name + SUFFIX_ROWS_SCALE] = quantise_rows(weight[ref.shape[0] :])
            continue
        if ref is None or ref.shape != weight.shape or weight.ndim != 2 or weight.numel() < min_numel:
            if ref is None or not torch.equal(ref.float(), weight):
                out[name + SUFFIX_FULL] = weight.contiguous()
            continue
        delta = weight - ref.float()
        if not delta.any():
            continue
        scale = (delta.abs().amax(dim=1, keepdim=True) / levels).clamp_min(1e-12).half().float()
        q = torch.round(delta / scale).clamp(-levels, levels).to(torch.int8)
        out[name + SUFFIX_Q] = pack4(q) if bits == 4 else q
        out[name + SUFFIX_SCALE] = scale.half()
    return out


def merge(base: dict[str, np.ndarray], delta: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The merged weights, in numpy (no torch import): base arrays plus deltas (new tensors taken whole,
    appended rows appended), float32."""
    merged = dict(base)
    for key, value in delta.items():
        if key.endswith(SUFFIX_FULL):
            merged[key.removesuffix(SUFFIX_FULL)] = value.astype(np.float32)
        elif key.endswith(SUFFIX_Q):
            name = key.removesuffix(SUFFIX_Q)
            ref = base[name].astype(np.float32)
            q = unpack4(value, ref.shape[1]) if value.dtype == np.uint8 else value
            merged[name] = ref + q.astype(np.float32) * delta[name + SUFFIX_SCALE].astype(np.float32)
    for key, value in delta.items():
        if key.endswith(SUFFIX_ROWS):
            name = key.removesuffix(SUFFIX_ROWS)
            rows = value.astype(np.float32) * delta[name + SUFFIX_ROWS_SCALE].astype(np.float32)
            merged[name] = np.concatenate([merged[name].astype(np.float32), rows])
    return merged


def apply(base: dict[str, torch.Tensor], delta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`merge` for torch tensors (the same float32 arithmetic, so the same bits)."""
    import torch

    merged = merge({k: v.numpy() for k, v in base.items()}, {k: v.numpy() for k, v in delta.items()})
    return {k: torch.from_numpy(v) for k, v in merged.items()}


def grown_rows(ref: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `weight` is the matrix `ref` with rows appended (a grown vocabulary)."""
    return ref.ndim == weight.ndim == 2 and weight.shape[1] == ref.shape[1] and weight.shape[0] > ref.shape[0]


def quantise_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 values and a float16 scale per row: rows ≈ q * scale, |error| <= scale / 2."""
    import torch

    scale = (rows.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12).half().float()
    return torch.round(rows / scale).clamp(-127, 127).to(torch.int8), scale.half()


def pack4(q: torch.Tensor) -> torch.Tensor:
    """Pack int8 values in [-7, 7] two per byte (uint8), row by row; odd widths get one pad nibble."""
    import torch

    rows, cols = q.shape
    u = (q.to(torch.int16) + 8).to(torch.uint8)
    if cols % 2:
        u = torch.cat([u, torch.full((rows, 1), 8, dtype=torch.uint8)], dim=1)
    return (u[:, 0::2] << 4) | u[:, 1::2]


def unpack4(packed: np.ndarray, cols: int) -> np.ndarray:
    """Inverse of `pack4` (numpy uint8 in, int8 out): each byte's high nibble, then its low one, less 8
    (0x3A → -5, 2).

    >>> unpack4(np.array([[0x3A, 0x88]], dtype=np.uint8), 3).tolist()
    [[-5, 2, 0]]
    """
    high = (packed >> 4).astype(np.int8) - 8
    low = (packed & 15).astype(np.int8) - 8
    return np.stack((high, low), axis=-1).reshape(packed.shape[0], -1)[:, :cols]


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def max_error(tuned: dict[str, torch.Tensor], merged: dict[str, torch.Tensor]) -> float:
    """Largest absolute weight difference after a round trip (for reports and tests)."""
    return max(float(np.abs((merged[k].float() - v.float()).numpy()).max()) for k, v in tuned.items())
