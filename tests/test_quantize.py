"""int8: the encoder's linears quantized (heads fp32), 8-bit activations only where the CPU has VNNI (and
closer to fp32 with them), the wide-range projections left fp32 without. No timings: speed is measured by bench/qa_inference.py."""

from __future__ import annotations

import pytest
import torch

from bertkit.quantize import full_range, full_range_linear, quantize_linears


class OneLayer(torch.nn.Module):
    def __init__(self, size: int):
        super().__init__()
        # named as in an encoder (layer.0.dense) and a head (qa_outputs)
        self.layer = torch.nn.ModuleList([torch.nn.ModuleDict({"dense": torch.nn.Linear(size, size)})])
        self.qa_outputs = torch.nn.Linear(size, 2)

    def forward(self, x):
        return self.layer[0]["dense"](x)


@pytest.mark.parametrize(
    "flags, expected",
    [({"avx2", "avx512_vnni"}, True), ({"amx_int8"}, True), ({"avx_vnni"}, False), ({"avx2", "fma"}, False)],
)
def test_full_range_needs_vnni(flags, expected):
    assert full_range(flags) is expected


def test_eight_bit_activations_halve_the_error_with_vnni_only_and_heads_stay_fp32():
    # The kernels are the real CPU's whatever flags `quantize_linears` is told: with VNNI (int32
    # accumulation) 8-bit activations are closer to fp32 than torch's 7-bit default; on AVX2 without it,
    # fbgemm's vpmaddubsw saturates their int16 pair sums and they are far worse — why `full_range` needs VNNI.
    from bertkit.runtime import cpu_flags

    torch.manual_seed(0)
    module = OneLayer(64).eval()
    x = torch.randn(256, 64)
    with torch.no_grad():
        expected = module(x)
    seven, eight = quantize_linears(module, flags=()), quantize_linears(module, flags={"avx512_vnni"})
    assert type(seven.layer[0]["dense"]) is torch.ao.nn.quantized.dynamic.Linear
    assert type(eight.layer[0]["dense"]) is full_range_linear()
    assert type(eight.qa_outputs) is torch.nn.Linear and type(seven.qa_outputs) is torch.nn.Linear
    assert type(module.layer[0]["dense"]) is torch.nn.Linear  # the caller's module is left as it was
    with torch.no_grad():
        error7 = (seven(x) - expected).abs().mean().item()
        error8 = (eight(x) - expected).abs().mean().item()
    if full_range(cpu_flags()):
        assert 0 < error8 < 0.7 * error7
    elif "avx2" in cpu_flags():
        assert error8 > error7 > 0


@pytest.mark.parametrize("flags, per_layer", [({"avx512_vnni"}, 6), ({"avx2"}, 4)])
def test_which_linears_of_a_bert_are_quantized(tiny_qa, flags, per_layer):
    # With VNNI all six of each layer (q, k, v, attention output, feed-forward in and out); without, the
    # attention-output and feed-forward-output projections stay fp32 (their inputs need all 8 bits).
    from torch.ao.nn.quantized.dynamic import Linear

    module = quantize_linears(tiny_qa.model.module, flags=flags)
    quantized = [name for name, m in module.named_modules() if isinstance(m, Linear)]
    assert len(quantized) == per_layer * tiny_qa.model.module.config.num_hidden_layers
    assert per_layer == 6 or not any(name.endswith("output.dense") for name in quantized)
    assert type(module.qa_outputs) is torch.nn.Linear
