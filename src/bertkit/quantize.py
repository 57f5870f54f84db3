"""int8 inference (`dtype="int8"`): the encoder's linear layers quantized, with activations at full range
where the CPU multiplies int8 without saturating.

torch's dynamic quantization (its x86 / fbgemm kernels) quantizes each weight per output channel once and
each batch's activations as it runs: asymmetric uint8 with one scale and zero point for the whole tensor.
By default it keeps activations to 7 bits (`reduce_range=True`): without VNNI, x86 multiplies uint8 by
int8 with `vpmaddubsw`, which adds two products into an int16 and saturates at full range
(2 × 255 × 127 = 64,770 > 32,767). With AVX-512 VNNI (and AMX-INT8) the products accumulate
in int32, so the 8th bit is free; it halves the activations' rounding error.

Without VNNI the inputs after softmax·V and after GELU (the attention-output and feed-forward-output
projections, `WIDE_RANGE_INPUTS`) do not survive 7 bits, so they stay fp32 there.

Measured on the bench's documents (squad-v1.1-dev paragraphs buried among others; F1 change against fp32):

    AMD Zen 4 with AVX-512 VNNI, first 80 documents (fp32 F1 72.37), 2026-12-04:
        every encoder linear, 7-bit activations (torch's default)        −7.45   same top-1 span 76 %
        every encoder linear, 8-bit activations                           −1.39   86 %
        SmoothQuant channel scales (α = 0.5) on top, 7-bit / 8-bit        −7.80 / −2.67 (worse: not used)
    Zen 4, all 200 documents, the run-7 default (fp32 F1 75.36): all six, 8-bit (what this module does)
        −1.0 (same top-1 87.5 %, 1.72× fp32); the feed-forward output left fp32 +1.82 (90.0 %): F1 moves
        by ±2 with 10 % of the top answers changed, so the same-span share says more than the F1 change.
    AMD Zen 4 whose VM showed AVX2 only (no VNNI), 200 documents, 2026-12-03:
        every linear, 7-bit                                 1.32× fp32    −6.2
        q/k/v and feed-forward input only, 7-bit            1.19× fp32    −0.84

Task heads, embeddings, layer norms and attention stay fp32 (`ENCODER_LAYER` names what is quantized).
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

# The linears quantized: those inside an encoder layer (BERT, RoBERTa, ELECTRA: `encoder.layer.3.`;
# DistilBERT: `transformer.layer.3.`; ALBERT: `albert_layers.0.`); poolers and task heads (2 outputs for
# QA: the scores themselves) stay fp32.
ENCODER_LAYER = re.compile(r"layers?\.\d+\.")
# The projections whose inputs come from softmax·V and from GELU (BERT's names; DistilBERT's out_lin, lin2;
# ALBERT's attention.dense, ffn_output): their few large values need all 8 bits, so without VNNI they stay fp32.
WIDE_RANGE_INPUTS = re.compile(r"(output\.dense|out_lin|lin2|attention\.dense|ffn_output)$")
# CPU flags of the int8 dot products torch's fbgemm kernels use, which accumulate in int32 (no int16
# saturation). AVX-VNNI (avx_vnni, without AVX-512) is not among them: fbgemm has no kernels for it and runs
# its AVX2 ones there. Every CPU with amx_int8 also has avx512_vnni.
VNNI_FLAGS = ("avx512_vnni", "amx_int8")


def full_range(flags: Iterable[str]) -> bool:
    """Whether activations may use all 8 bits on a CPU with these flags (`VNNI_FLAGS`).

    >>> full_range({"avx2", "avx512_vnni"}), full_range({"avx2", "fma"})
    (True, False)
    """
    return bool(set(flags) & set(VNNI_FLAGS))


@functools.cache
def full_range_linear() -> Any:
    """torch's dynamic int8 linear with 8-bit activations (`reduce_range=False`); made on first use, so that
    torch is imported only when int8 is asked for."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear

    class FullRangeLinear(Linear):
        def forward(self, x: Any) -> Any:
            packed = self._packed_params._packed_params
            return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)

    return FullRangeLinear


def encoder_linears(module: Any, eight_bit: bool = True) -> Iterator[str]:
    """The qualified names of the linear layers quantized: those of the encoder layers, less those with
    `WIDE_RANGE_INPUTS` when activations get 7 bits only."""
    import torch

    for name, child in module.named_modules():
        if type(child) is torch.nn.Linear and ENCODER_LAYER.search(name):
            if eight_bit or not WIDE_RANGE_INPUTS.search(name):
                yield name


def quantize_linears(module: Any, flags: Iterable[str] | None = None) -> Any:
    """A copy of `module` whose encoder linears run in int8 (weights per output channel once, activations per
    batch as it runs): all of them with 8-bit activations where the CPU's `flags` allow (`full_range`;
    default: this machine's), else all but the `WIDE_RANGE_INPUTS` ones with 7 bits. The caller's module is
    left as it is."""
    import torch

    from .runtime import cpu_flags

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.nn.quantized.dynamic import Linear
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        eight_bit = full_range(cpu_flags() if flags is None else flags)
        linear = full_range_linear() if eight_bit else Linear
        names = dict.fromkeys(encoder_linears(module, eight_bit), per_channel_dynamic_qconfig)
        mapping = {torch.nn.Linear: linear}
        return quantize_dynamic(copy.deepcopy(module), names, mapping=mapping, inplace=True)
