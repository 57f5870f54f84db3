"""Deltas over base weights: the round trip is exact for whole tensors and within half a step otherwise."""

from __future__ import annotations

import pytest
import torch

from bertkit.deltas import apply, compress, max_error, pack4, unpack4


def states(seed=0):
    g = torch.Generator().manual_seed(seed)
    base = {
        "w": torch.randn(64, 100, generator=g),
        "b": torch.randn(64, generator=g),
        "same": torch.ones(80, 80),
    }
    tuned = {k: v.clone() for k, v in base.items()}
    tuned["w"] += 0.01 * torch.randn(64, 100, generator=g)
    tuned["b"] += 0.1
    tuned["head.weight"] = torch.randn(2, 64, generator=g)
    return base, tuned


@pytest.mark.parametrize("bits", [8, 4])
def test_round_trip(bits):
    base, tuned = states()
    delta = compress(base, tuned, bits=bits, min_numel=1000)
    assert "same.dq" not in delta and "same.full" not in delta  # unchanged tensors cost nothing
    merged = apply(base, delta)
    assert torch.equal(merged["b"], tuned["b"]) and torch.equal(merged["head.weight"], tuned["head.weight"])
    step = (tuned["w"] - base["w"]).abs().amax(dim=1) / (2 ** (bits - 1) - 1)
    assert ((merged["w"] - tuned["w"]).abs().amax(dim=1) <= step * 0.5 + 1e-3 * step + 1e-6).all()
    assert max_error(tuned, merged) < 0.01


def test_pack4_is_reversible_for_odd_widths():
    q = torch.randint(-7, 8, (5, 7), dtype=torch.int8)
    packed = pack4(q)
    assert packed.dtype == torch.uint8 and packed.shape == (5, 4)
    assert torch.equal(torch.from_numpy(unpack4(packed.numpy(), 7)), q)


def test_grown_vocabulary_is_stored_row_sparse():
    """A word-embedding matrix with rows appended (the Hangul-exact vocabulary): unchanged base rows cost
    nothing, the appended rows come back within half an int8 step of each row's largest value."""
    g = torch.Generator().manual_seed(1)
    base = {"emb": torch.randn(50, 16, generator=g)}
    new_rows = torch.randn(7, 16, generator=g)
    tuned = {"emb": torch.cat([base["emb"], new_rows])}
    delta = compress(base, tuned, bits=4, min_numel=10)
    assert set(delta) == {"emb.rows", "emb.rscale"} and delta["emb.rows"].shape == (7, 16)
    merged = apply(base, delta)
    assert merged["emb"].shape == (57, 16) and torch.equal(merged["emb"][:50], base["emb"])
    step = new_rows.abs().amax(dim=1, keepdim=True) / 127
    assert ((merged["emb"][50:] - new_rows).abs() <= step * 0.501 + 1e-6).all()

    tuned["emb"][:50] += 0.01  # base rows changed too: they travel as a delta beside the appended rows
    merged = apply(base, compress(base, tuned, bits=8, min_numel=10))
    assert (merged["emb"][:50] - tuned["emb"][:50]).abs().max() < 1e-4
    assert ((merged["emb"][50:] - new_rows).abs() <= step * 0.501 + 1e-6).all()
