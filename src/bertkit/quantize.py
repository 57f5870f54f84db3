"""int8 inference (`dtype="int8"`): the encoder's linear layers quantized, their inputs smoothed first.

torch's dynamic quantization (its x86 / oneDNN kernels: VNNI, AMX-INT8) quantizes each weight per output
channel once and each batch's activations as it runs, with one scale for the whole tensor: max|X| / 127.
A BERT's activations have a few outlier channels (after a LayerNorm, after softmax·V, after GELU), so one
scale for all of them leaves the ordinary channels a handful of levels; measured on the bench's 200
documents (AVX2 Zen 4), quantizing every linear this way cost 6.2 F1.

SmoothQuant (Xiao et al. 2023) moves the difficulty from the activations to the weights, which are
quantized per output channel and can take it: for input channel j,

    s_j = max|X_j|^α / max|W_j|^(1−α)          X' = X / s,   W' = W · diag(s),   X' W'^T = X W^T

Worked example (α = 0.5; one linear, two input channels, both weight columns of max 0.1):

    max|X_0| = 0.5, max|X_1| = 40    s = (√0.5/√0.1, √40/√0.1) = (2.24, 20.0)
    X' channel maxima: 0.5/2.24 = 0.22 and 40/20 = 2.0 (a ratio of 9 instead of 80)
    W' column maxima:  0.1·2.24 = 0.22 and 0.1·20 = 2.0 (per-output-channel scales absorb it)

Here the division X / s is an explicit multiply in front of each quantized linear (``smoothed_class`: one pass
over X, ~0.3 % of the product's work), so nothing is folded into the layer norms, which in a post-LN BERT
also feed the residual stream. The activation maxima come from a fixed calibration set (`CALIBRATION`:
English and Korean questions over short paragraphs, run in fp32 once per conversion), so a model's int8
scores do not depend on what it is asked first. Task heads stay fp32 (`ENCODER_LAYER`).
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

# The linears quantized: those inside an encoder layer (BERT, RoBERTa, ELECTRA: `encoder.layer.3.`;
# DistilBERT: `transformer.layer.3.`; ALBERT: `albert_layers.0.`); embeddings' projections, poolers and task
# heads (2 outputs for QA) stay fp32: small, and a head's few outputs are the scores themselves.
ENCODER_LAYER = re.compile(r"layers?\.\d+\.")
# SmoothQuant's migration strength: 0 leaves the activations alone, 1 moves all of their range to the weights.
ALPHA = 0.5

# (question, paragraph) pairs the activation maxima are measured on: everyday English and Korean prose, as
# the tasks see it (the calibration needs the outlier channels to show, not the exact data).
CALIBRATION = (
    (
        "Where does John live?",
        "John lives in New York City. He moved there from Boston in 2015 to work as a carpenter, and he "
        "now runs a small workshop in Brooklyn near the river, where he builds tables and chairs.",
    ),
    (
        "When was the bridge finished?",
        "The construction of the bridge began in 1869 and was finished in 1883. It was the longest "
        "suspension bridge in the world at the time, with a main span of 1,595 feet (486 m), and it "
        "carried trains, horse carriages and people on foot across the East River.",
    ),
    (
        "What do plants need for photosynthesis?",
        "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to "
        "make glucose and oxygen. It takes place mainly in the leaves, inside chloroplasts, whose pigment "
        "chlorophyll absorbs red and blue light and reflects green.",
    ),
    (
        "Who won the match?",
        "In the final on Sunday, Real Madrid beat Liverpool 3-1 in Kyiv. Karim Benzema scored first, "
        "Sadio Mané equalised, and two goals by Gareth Bale, one an overhead kick, decided the match "
        "in front of 61,000 spectators.",
    ),
    (
        "How much did the company earn?",
        "The company reported revenue of $4.2 billion for the third quarter, up 12% from a year earlier, "
        "and a net profit of $310 million. Its shares rose 5.3% after the announcement; analysts had "
        "expected $3.9 billion.",
    ),
    (
        "철수는 어디에 삽니까?",
        "철수는 서울에 삽니다. 영희는 부산에 삽니다. 두 사람은 대학교에서 처음 만났고, 지금은 주말마다 "
        "전화로 이야기를 나눕니다.",
    ),
    (
        "세종대왕은 무엇을 만들었습니까?",
        "세종대왕은 조선의 제4대 왕으로, 1443년에 훈민정음을 창제하였다. 그는 집현전을 설치하여 학자들을 "
        "양성하였고, 측우기와 해시계 같은 과학 기구의 발명을 장려하였다.",
    ),
    (
        "고양이가 어디에 앉습니까?",
        "고양이가 의자에 앉습니다. 창밖에는 비가 내리고, 강아지는 소파 밑에서 잠을 잡니다. 할머니는 "
        "부엌에서 김치찌개를 끓이고 계십니다.",
    ),
)


@functools.cache
def smoothed_class() -> Any:
    """The torch module that runs `linear(x * inverse)`, the linear's weight columns multiplied by the
    scales (a class made on first use: torch is imported only when int8 is asked for)."""
    import torch

    class SmoothedLinear(torch.nn.Module):
        def __init__(self, linear: Any, scale: Any):
            super().__init__()
            with torch.no_grad():
                linear.weight.mul_(scale)  # W' = W · diag(s)
            self.linear = linear
            self.register_buffer("inverse", (1 / scale).to(linear.weight.dtype))

        def forward(self, x: Any) -> Any:
            return self.linear(x * self.inverse)

    return SmoothedLinear


def encoder_linears(module: Any) -> Iterator[tuple[str, Any]]:
    """(qualified name, module) of every linear layer quantized: those of the encoder layers."""
    import torch

    for name, child in module.named_modules():
        if type(child) is torch.nn.Linear and ENCODER_LAYER.search(name):
            yield name, child


def calibration_windows(tokenizer: Any, max_length: int = 384) -> list[dict[str, np.ndarray]]:
    """`CALIBRATION` tokenized as the tasks tokenize a question and its context: one window each."""
    windows = []
    for question, context in CALIBRATION:
        encoded = tokenizer(question, context, truncation=True, max_length=max_length)
        windows.append(
            {k: np.asarray(v, dtype=np.int64)[None] for k, v in encoded.items() if k != "attention_mask"}
        )
    return windows


def activation_maxima(module: Any, windows: Iterable[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Per linear layer (`encoder_linears`), the largest |input| of each input channel over `windows`,
    each run alone (no padding tokens in the statistics), in fp32."""
    import torch

    maxima: dict[str, Any] = {}

    def recorder(name: str) -> Callable[..., None]:
        def record(_: Any, args: tuple[Any, ...]) -> None:
            seen = args[0].detach().float().abs().flatten(0, -2).amax(0)
            maxima[name] = torch.maximum(maxima[name], seen) if name in maxima else seen

        return record

    hooks = [linear.register_forward_pre_hook(recorder(name)) for name, linear in encoder_linears(module)]
    try:
        with torch.inference_mode():
            for window in windows:
                module(**{k: torch.from_numpy(v) for k, v in window.items()})
    finally:
        for hook in hooks:
            hook.remove()
    return maxima


def smoothing_scale(activation_max: Any, weight: Any, alpha: float = ALPHA) -> Any:
    """s_j = max|X_j|^α / max|W_j|^(1−α) (see the module's worked example), kept away from 0 and inf."""
    w = weight.detach().abs().amax(0).clamp(min=1e-5)
    return (activation_max.clamp(min=1e-5).pow(alpha) / w.pow(1 - alpha)).clamp(1e-3, 1e3)


def quantize_linears(
    module: Any, windows: Iterable[dict[str, np.ndarray]] | None = None, alpha: float = ALPHA
) -> Any:
    """A copy of `module` whose encoder linears run in int8 (dynamic quantization: weights per output channel
    once, activations per batch as it runs), each smoothed by the activation maxima seen on `windows`
    (`calibration_windows`; None: not smoothed). Embeddings, layer norms, attention and heads stay fp32."""
    maxima = activation_maxima(module, windows) if windows is not None else {}
    quantized = copy.deepcopy(module)
    smoothed = smoothed_class()
    names = []
    for name, linear in list(encoder_linears(quantized)):
        if name in maxima:
            parent, _, child = name.rpartition(".")
            holder = quantized.get_submodule(parent) if parent else quantized
            setattr(holder, child, smoothed(linear, smoothing_scale(maxima[name], linear.weight, alpha)))
            name = f"{name}.linear"
        names.append(name)
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(quantized, dict.fromkeys(names, per_channel_dynamic_qconfig))
