"""The runtime: batching by length and padding never change what a window's outputs are."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit import InputError
from bertkit.runtime import Runtime, length_batches


def test_length_batches_cover_every_window_once_within_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 400, 200).tolist()
    seen = []
    for batch in length_batches(lengths, max_tokens=2048, max_batch=16):
        width = max(lengths[i] for i in batch)
        assert len(batch) <= 16 and (len(batch) * width <= 2048 or len(batch) == 1)
        seen += batch.tolist()
    assert sorted(seen) == list(range(200))


def windows(tokenizer, n=9):
    rng = np.random.default_rng(1)
    return [np.asarray(tokenizer("word " * int(rng.integers(3, 120)))["input_ids"]) for _ in range(n)]


@pytest.mark.parametrize("max_tokens", [64, 512, 100_000])
def test_outputs_do_not_depend_on_batching(tiny_qa, max_tokens):
    module = tiny_qa.model.module
    ids = windows(tiny_qa.model.tokenizer)
    alone = [
        Runtime(module, max_tokens=1, max_batch=1).forward({"input_ids": [x]}, ["start_logits"])[
            "start_logits"
        ][0]
        for x in ids
    ]
    together = Runtime(module, max_tokens=max_tokens).forward({"input_ids": ids}, ["start_logits"])[
        "start_logits"
    ]
    for a, b in zip(alone, together, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_bf16_is_close_to_fp32_and_leaves_the_model_alone(tiny_qa):
    import torch

    module = tiny_qa.model.module
    ids = windows(tiny_qa.model.tokenizer, 4)
    fp32 = Runtime(module).forward({"input_ids": ids}, ["end_logits"])["end_logits"]
    bf16 = Runtime(module, dtype="bf16").forward({"input_ids": ids}, ["end_logits"])["end_logits"]
    assert next(module.parameters()).dtype == torch.float32
    for a, b in zip(fp32, bf16, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=0.15 * np.abs(a).max() + 0.05)


def test_unknown_dtype(tiny_qa):
    with pytest.raises(InputError, match="dtype must be one of fp32, bf16"):
        Runtime(tiny_qa.model.module, dtype="int4")


def test_threads_are_set_only_while_the_runtime_runs(tiny_qa):
    import torch

    ids = [np.asarray(tiny_qa.model.tokenizer("one two three")["input_ids"])]
    before = torch.get_num_threads()
    seen = []

    def spy(module, args, output):
        seen.append(torch.get_num_threads())

    runtime = Runtime(tiny_qa.model.module, threads=1 if before != 1 else 2)
    handle = tiny_qa.model.module.register_forward_hook(spy)
    try:
        runtime.forward({"input_ids": ids}, ["start_logits"])
    finally:
        handle.remove()
    assert seen == [runtime.threads] and torch.get_num_threads() == before
