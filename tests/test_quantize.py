"""int8 with SmoothQuant's channel scales: the worked example, the product left unchanged in fp32, outlier
channels survive quantization, heads stay fp32. No timings: speed is measured by bench/qa_inference.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertkit.quantize import (
    CALIBRATION,
    calibration_windows,
    quantize_linears,
    smoothed_class,
    smoothing_scale,
)


def test_the_worked_example():
    weight = torch.full((3, 2), 0.1)  # [out, in]: both input columns of max 0.1
    scale = smoothing_scale(torch.tensor([0.5, 40.0]), weight, alpha=0.5)
    assert scale.tolist() == pytest.approx([2.236, 20.0], rel=1e-3)
    assert (torch.tensor([0.5, 40.0]) / scale).tolist() == pytest.approx([0.2236, 2.0], rel=1e-3)


def test_smoothing_leaves_the_product_unchanged():
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 8)
    x = torch.randn(5, 16) * torch.logspace(-1, 2, 16)
    expected = linear(x)
    scale = smoothing_scale(x.abs().amax(0), linear.weight)
    smoothed = smoothed_class()(linear, scale)
    torch.testing.assert_close(smoothed(x), expected, rtol=1e-5, atol=1e-4)


class OneLinear(torch.nn.Module):
    def __init__(self, size: int):
        super().__init__()
        # named as in an encoder: layer.0.dense
        self.layer = torch.nn.ModuleList([torch.nn.ModuleDict({"dense": torch.nn.Linear(size, size)})])

    def forward(self, x):
        return self.layer[0]["dense"](x)


def test_an_outlier_channel_no_longer_drowns_the_others():
    # One input channel 100x the others, as after a BERT layer norm: one per-tensor activation scale leaves
    # the ordinary channels a few levels; smoothed, the int8 product stays close to fp32's.
    torch.manual_seed(0)
    module = OneLinear(64).eval()
    x = torch.randn(256, 64)
    x[:, 7] *= 100
    with torch.no_grad():
        expected = module(x)
    windows = [{"x": x[:128].numpy()}]
    plain, smoothed = quantize_linears(module), quantize_linears(module, windows)
    with torch.no_grad():
        plain_error = (plain(x) - expected).abs().mean().item()
        smoothed_error = (smoothed(x) - expected).abs().mean().item()
    assert smoothed_error < plain_error / 3
    assert type(module.layer[0]["dense"]) is torch.nn.Linear  # the caller's module is left as it was


def test_heads_stay_fp32_and_every_encoder_linear_is_smoothed(tiny_qa):
    windows = calibration_windows(tiny_qa.model.tokenizer)
    assert len(windows) == len(CALIBRATION)
    assert all(
        w["input_ids"].shape == w["token_type_ids"].shape == (1, w["input_ids"].shape[1]) for w in windows
    )
    module = quantize_linears(tiny_qa.model.module, windows)
    assert type(module.qa_outputs) is torch.nn.Linear
    smoothed = [m for m in module.modules() if type(m) is smoothed_class()]
    layers = tiny_qa.model.module.config.num_hidden_layers
    assert len(smoothed) == 6 * layers  # q, k, v, attention output, feed-forward in and out
    assert all("quantized" in type(m.linear).__module__ for m in smoothed)
    assert all(np.isfinite(m.inverse.numpy()).all() for m in smoothed)
