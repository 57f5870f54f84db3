"""BERT's forward pass for inference in plain torch, for the embedded default models: a one-shot command
need not import transformers' modeling stack (`transformers.modeling_utils` pulls in torch.distributed,
dynamo, scipy, accelerate: 1.5-2.5 s of a 4 s `bertkit qa`).

The weights keep the names of transformers' Bert* classes (`bert.encoder.layer.0.attention.self.query`, ...)
and the forward does the same operations in the same order (embeddings, then per layer: q/k/v projections,
SDPA with a boolean padding mask, output projection + LayerNorm, GELU feed-forward + LayerNorm), so fp32
outputs equal transformers' bit for bit (tests/test_inference_bert.py). Outputs are a dict named as
transformers names them. `load_default` serves a task's embedded default this way when the Task has no
other wish (the attention inspector wants eager attention weights, so it keeps transformers' classes);
training, export and every other model use transformers.

In bf16 two things matter on CPUs with matrix units (AMX, AVX-512 BF16), where the products are cheap and
the memory passes around them are not: each linear is one oneDNN call with its bias and GELU applied to
the fp32 accumulator before rounding (`linear`; unfused, GELU alone costs more than its matmul), and the
padding mask is built once per forward as an additive bf16 bias, or not at all when nothing is padded
(SDPA's CPU kernel converts a boolean mask again in every layer). fp32 keeps transformers' calls: an
additive 0/-inf mask gives SDPA the same results bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelLoadError
from .numpy_bert import POOLED, TASK_OUTPUTS, supports

# transformers' class of each task, for running a loaded transformers model on this forward (`from_transformers`)
TASK_OF_CLASS = {
    "BertForQuestionAnswering": "qa",
    "BertForTokenClassification": "ner",
    "BertForMaskedLM": "mlm",
    "BertForNextSentencePrediction": "nsp",
    "BertModel": "base",
}


def block(**children: nn.Module) -> Any:
    """A module holding `children` under these names (so that state-dict keys are transformers' own); typed
    Any, as its children are reached by name (`layer.attention.self.query`)."""
    holder = nn.Module()
    for name, child in children.items():
        holder.add_module(name, child)
    return holder


def dense_norm(size_in: int, size_out: int, eps: float) -> Any:
    return block(dense=nn.Linear(size_in, size_out), LayerNorm=nn.LayerNorm(size_out, eps=eps))


def encoder_layer(config: Any) -> Any:
    h, eps = config.hidden_size, config.layer_norm_eps
    attention = block(
        self=block(query=nn.Linear(h, h), key=nn.Linear(h, h), value=nn.Linear(h, h)),
        output=dense_norm(h, h, eps),
    )
    intermediate = block(dense=nn.Linear(h, config.intermediate_size))
    return block(
        attention=attention, intermediate=intermediate, output=dense_norm(config.intermediate_size, h, eps)
    )


class InferenceBert(nn.Module):
    """A BERT encoder with the head of `task`, for inference.

    Args:
        config: a transformers `BertConfig` (see `supports`).
        task: "qa", "ner", "mlm", "nsp" or "base" (no head: hidden states and the pooled [CLS]).
    """

    def __init__(self, config: Any, task: str):
        super().__init__()
        self.config, self.task = config, task
        h, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_attention_heads
        self.scaling = int(h / self.heads) ** -0.5  # as transformers computes it
        embeddings = block(
            word_embeddings=nn.Embedding(config.vocab_size, h, padding_idx=config.pad_token_id),
            position_embeddings=nn.Embedding(config.max_position_embeddings, h),
            token_type_embeddings=nn.Embedding(config.type_vocab_size, h),
            LayerNorm=nn.LayerNorm(h, eps=eps),
        )
        layers = nn.ModuleList(encoder_layer(config) for _ in range(config.num_hidden_layers))
        self.bert = block(embeddings=embeddings, encoder=block(layer=layers))
        if task in POOLED:
            self.bert.add_module("pooler", block(dense=nn.Linear(h, h)))
        if task == "qa":
            self.qa_outputs = nn.Linear(h, 2)
        elif task == "ner":
            self.classifier = nn.Linear(h, config.num_labels)
        elif task == "mlm":  # the decoder's weights are the word embeddings (tied); its bias is its own
            self.cls = block(predictions=block(transform=dense_norm(h, h, eps)))
            self.cls.predictions.register_parameter("bias", nn.Parameter(torch.zeros(config.vocab_size)))
        elif task == "nsp":
            self.cls = block(seq_relationship=nn.Linear(h, 2))

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> dict[str, Any]:
        """The task's outputs (`TASK_OUTPUTS`), plus `hidden_states` (the embeddings, then each layer's
        output) when asked. `attention_mask`: 1 for tokens, 0 for padding; None: no padding."""
        hidden: list[torch.Tensor] = [self.embed(input_ids, token_type_ids)]
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            # [batch, 1, 1, to]: 0 where attended, -inf at padding (SDPA broadcasts it over heads and rows)
            padding = (attention_mask == 0)[:, None, None, :]
            mask = torch.zeros(padding.shape, dtype=hidden[0].dtype).masked_fill(padding, float("-inf"))
        for layer in self.bert.encoder.layer:
            hidden.append(self.layer(layer, hidden[-1], mask))
        out = self.head(hidden[-1])
        if output_hidden_states:
            out["hidden_states"] = tuple(hidden)
        return out

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        e = self.bert.embeddings
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids)
        x = x + e.position_embeddings.weight[: input_ids.shape[1]].unsqueeze(0)
        return e.LayerNorm(x)

    def layer(self, layer: Any, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, _ = x.shape
        projections = layer.attention.self
        q, k, v = (
            linear(proj, x).view(batch, length, self.heads, -1).transpose(1, 2)
            for proj in (projections.query, projections.key, projections.value)
        )
        attended = attention(q, k, v, mask, self.scaling)
        attended = attended.transpose(1, 2).contiguous().reshape(batch, length, -1)
        x = layer.attention.output.LayerNorm(linear(layer.attention.output.dense, attended) + x)
        inner = linear(layer.intermediate.dense, x, gelu=True)
        return layer.output.LayerNorm(linear(layer.output.dense, inner) + x)

    def head(self, x: torch.Tensor) -> dict[str, Any]:
        pooled = torch.tanh(self.bert.pooler.dense(x[:, 0])) if self.task in POOLED else None
        if self.task == "qa":
            start, end = self.qa_outputs(x).split(1, dim=-1)
            return {
                "start_logits": start.squeeze(-1).contiguous(),
                "end_logits": end.squeeze(-1).contiguous(),
            }
        if self.task == "ner":
            return {"logits": self.classifier(x)}
        if self.task == "mlm":
            transform = self.cls.predictions.transform
            x = transform.LayerNorm(F.gelu(transform.dense(x)))
            return {
                "logits": F.linear(x, self.bert.embeddings.word_embeddings.weight, self.cls.predictions.bias)
            }
        if self.task == "nsp":
            return {"logits": self.cls.seq_relationship(pooled)}
        return {"last_hidden_state": x, "pooler_output": pooled}


@functools.cache
def onednn_linear() -> bool:
    """True when torch has oneDNN's fused bf16 linear (x86 builds) and the CPU runs it: oneDNN refuses
    bf16 inner products on a CPU without AVX-512 ("could not create a primitive descriptor", seen on an
    AVX2-only Zen 4), where bf16 runs as transformers runs it (emulated: slow, but it answers)."""
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


@functools.cache
def per_window_attention() -> bool:
    """True where bf16 attention runs faster one window at a time in plain matmuls than in SDPA's CPU flash
    kernel: CPUs with AVX-512 BF16 but no AMX. Measured on Zen 4 (2026-12-04; 16 windows × 12 heads × 384
    tokens, head size 32, one layer): flash 34.9 ms (104 GFLOP/s), per window 22.8 ms (159), two windows at
    a time 31.2, four 50.8 (the [heads, 384, 384] scores of one window stay in the caches; more do not).
    The bench's 200 documents, same machine, default model: 27.93 → 29.88 windows/s in bf16, F1 against
    fp32's 75.36: 75.03 with SDPA, 74.97 per window (the same top-1 span as fp32 on 99.5 % and 97.5 %).
    Not measured on AMX, where SDPA stays."""
    from .runtime import cpu_flags

    flags = cpu_flags()
    return "avx512_bf16" in flags and "amx_bf16" not in flags


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """softmax(q·kᵀ·scale + mask)·v over [batch, heads, length, head size]: SDPA, or in bf16 where it is
    faster (`per_window_attention`) one window at a time, the scores in bf16 (softmax accumulates in fp32)."""
    if q.dtype != torch.bfloat16 or not per_window_attention():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    out = torch.empty_like(q)
    for b in range(q.shape[0]):
        scores = torch.matmul(q[b], k[b].transpose(-1, -2)).mul_(scale)
        if mask is not None:
            scores.add_(mask[b])  # [1, 1, to]: -inf at the padding, over every head and row
        out[b] = torch.matmul(torch.softmax(scores, dim=-1), v[b])
    return out


def linear(module: Any, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
    """module(x), then GELU when asked; in bf16 one oneDNN call that adds the bias and applies GELU to the
    fp32 accumulator (closer to fp32 than rounding the product first). Other dtypes and quantised linears
    run as transformers runs them."""
    if x.dtype == torch.bfloat16 and type(module) is nn.Linear and onednn_linear():
        activation, algorithm = ("gelu", "none") if gelu else ("none", "")
        return torch.ops.mkldnn._linear_pointwise(x, module.weight, module.bias, activation, [], algorithm)
    y = module(x)
    return F.gelu(y) if gelu else y


def build(config: Any, task: str, state: dict[str, torch.Tensor]) -> InferenceBert:
    """An `InferenceBert` holding the tensors of `state` it has (all of them must be there)."""
    # Built on the CPU and then given the weights: building on the meta device would import torch._dynamo
    # (1.3 s) for the meta kernels of the random initialisation; the CPU's costs ~0.1 s.
    module = InferenceBert(config, task)
    wanted = module.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ModelLoadError(f"the weights lack tensors: {missing[:3]}")
    module.load_state_dict({k: state[k] for k in wanted}, assign=True)
    return module.eval()


def from_transformers(module: Any) -> InferenceBert | None:
    """An `InferenceBert` sharing the weights of a transformers Bert* model, or None when this forward does
    not compute what that model does (another architecture, or eager attention asked for its weights).
    The runtime runs bf16 this way for every BERT model, not only the defaults."""
    from .default_models import strip_prefix

    task = TASK_OF_CLASS.get(type(module).__name__)
    config = getattr(module, "config", None)
    if task is None or not supports(config, task) or getattr(config, "_attn_implementation", None) == "eager":
        return None
    return build(config, task, {strip_prefix(k): v for k, v in module.state_dict().items()})


def load_default(task: str) -> Any:
    """The embedded default model of `task` (a `loading.Model`) with an `InferenceBert` module, or None when
    this forward does not serve it (then `loading.load` does)."""
    from .default_models import describe_shipped, plain_config, shipped, shipped_tokenizer, shipped_weights
    from .loading import DEFAULT, Model, minilm_dir

    if task not in TASK_OUTPUTS:
        return None
    folder = shipped(task)
    if folder is None and task != "base":
        return None
    config = plain_config(folder or minilm_dir())
    if not supports(config, task):
        return None
    module = build(config, task, shipped_weights(folder, minilm_dir()))
    tokenizer = shipped_tokenizer(folder)
    return Model(tokenizer, module, DEFAULT, "default", description=describe_shipped(folder))
