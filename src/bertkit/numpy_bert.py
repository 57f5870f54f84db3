"""BERT's forward pass in numpy, for short inputs to the embedded default models: a one-shot command need
not import torch at all (1.2-2.1 s of a 3 s `bertkit qa` on a 2-core AMD Zen 4 whose VM shows AVX2 only).

The same operations as `inference_bert.InferenceBert` (and transformers' Bert* classes), in float32:
embeddings + LayerNorm; per layer q/k/v projections, softmax(q·kᵀ/√d + mask)·v, output projection +
LayerNorm, GELU feed-forward + LayerNorm; then the task's head. The results equal torch's to float32
rounding (about 1e-6 relative; tests/test_numpy_bert.py), not bit for bit: numpy's BLAS sums in another
order. `tasks.base.Task` runs the embedded defaults this way while the work is small and the dtype is fp32,
and loads the torch model the first time a call brings more (`NUMPY_MAX_TOKENS`).

GELU is the exact one, x·Φ(x), with erf from Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7; numpy has no erf).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .decoding import softmax
from .errors import ModelLoadError

# Tokens of work (over all windows of one call) that the numpy forward takes; more goes to torch, whose
# kernels are faster once the products are large (and whose import then pays for itself).
NUMPY_MAX_TOKENS = 1024
# The outputs of each task's model, as transformers' classes name them (Bert{QuestionAnswering, ...}); both
# forwards (this one and `inference_bert`'s) serve these tasks.
TASK_OUTPUTS = {
    "qa": ("start_logits", "end_logits"),
    "ner": ("logits",),
    "mlm": ("logits",),
    "nsp": ("logits",),
    "base": ("last_hidden_state", "pooler_output"),
}
TASKS = tuple(TASK_OUTPUTS)
POOLED = {"nsp", "base"}  # the tasks whose model has the pooler (the [CLS] dense + tanh)


def supports(config: Any, task: str) -> bool:
    """True when this forward computes what transformers' class would for `config` and `task`."""
    return (
        task in TASKS
        and getattr(config, "model_type", None) == "bert"
        and getattr(config, "hidden_act", None) == "gelu"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and (task != "qa" or getattr(config, "num_labels", 2) == 2)
    )


def load_default(task: str, dtype: str = "auto") -> Any:
    """The embedded default model of `task` (a `loading.Model`) on a `NumpyBert`, or None where this forward
    does not serve it: a dtype it cannot run (`runtime.light_dtype`: bf16 or int8 asked for), a task or
    config it does not compute. Imports neither torch nor transformers."""
    from .default_models import describe_shipped, plain_config, shipped, shipped_arrays, shipped_tokenizer
    from .loading import DEFAULT, Model, minilm_dir
    from .runtime import light_dtype

    folder = shipped(task)
    if task not in TASKS or (folder is None and task != "base") or light_dtype(dtype) is None:
        return None
    config = plain_config(folder or minilm_dir())
    if not supports(config, task):
        return None
    module = NumpyBert(config, task, shipped_arrays(folder, minilm_dir()))
    return Model(shipped_tokenizer(folder), module, DEFAULT, "default", description=describe_shipped(folder))


def erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), in x's dtype.

    >>> [round(float(v), 6) for v in erf(np.array([-1.0, 0.0, 0.5, 2.0], np.float32))]
    [-0.842701, 0.0, 0.5205, 0.995322]
    """
    a = np.abs(x)
    t = 1 / (1 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)) (transformers' "gelu")."""
    return 0.5 * x * (1 + erf(x * np.float32(0.7071067811865476)))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


class NumpyBert:
    """A BERT encoder with the head of `task`, for inference in numpy.

    Args:
        config: the model's config (attributes as in config.json: `default_models.plain_config`).
        task: "qa", "ner", "mlm", "nsp" or "base" (hidden states and the pooled [CLS]).
        weights: float32 arrays named as transformers names them (`bert.encoder.layer.0.attention...`).
    """

    def __init__(self, config: Any, task: str, weights: dict[str, np.ndarray]):
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        self.config, self.task = config, task
        self.heads = config.num_attention_heads
        self.scaling = np.float32(int(config.hidden_size / self.heads) ** -0.5)
        self.eps = config.layer_norm_eps
        needed = self.names()
        missing = [name for name in needed if name not in weights]
        if missing:
            raise ModelLoadError(f"the model's weights lack tensors: {missing[:3]}")
        self.w = {k: np.ascontiguousarray(weights[k], dtype=np.float32) for k in needed}

    def names(self) -> list[str]:
        """The weights this task's model reads, in the order of `InferenceBert.state_dict()` (so that a
        fingerprint of the weights is the same for both)."""
        pair = (".weight", ".bias")
        embeddings = [
            f"bert.embeddings.{e}.weight"
            for e in ("word_embeddings", "position_embeddings", "token_type_embeddings")
        ]
        names = embeddings + [f"bert.embeddings.LayerNorm{s}" for s in pair]
        inner = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")  # fmt: skip
        for i in range(self.config.num_hidden_layers):
            names += [f"bert.encoder.layer.{i}.{n}{s}" for n in inner for s in pair]
        if self.task in POOLED:
            names += [f"bert.pooler.dense{s}" for s in pair]
        head = {
            "qa": ["qa_outputs"],
            "ner": ["classifier"],
            "mlm": ["cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm"],
            "nsp": ["cls.seq_relationship"],
            "base": [],
        }[self.task]
        if self.task == "mlm":  # a parameter of cls.predictions itself comes before its children's
            names.append("cls.predictions.bias")
        return names + [f"{h}{s}" for h in head for s in pair]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights by name, as torch modules list them."""
        return dict(self.w)

    def linear(self, name: str, x: np.ndarray) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def norm(self, name: str, x: np.ndarray) -> np.ndarray:
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def __call__(
        self,
        input_ids: np.ndarray,
        token_type_ids: np.ndarray | None = None,
        attention_mask: np.ndarray | None = None,
        output_hidden_states: bool = False,
    ) -> dict[str, Any]:
        """The task's outputs (named as transformers names them), plus `hidden_states` when asked; inputs are
        [batch, length] int arrays, `attention_mask` 1 for tokens and 0 for padding (None: no padding)."""
        w = self.w
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        x = w["bert.embeddings.word_embeddings.weight"][input_ids]
        x = x + w["bert.embeddings.token_type_embeddings.weight"][token_type_ids]
        x = self.norm(
            "bert.embeddings.LayerNorm",
            x + w["bert.embeddings.position_embeddings.weight"][: input_ids.shape[1]],
        )
        mask = None
        if attention_mask is not None and not attention_mask.all():
            mask = np.where(attention_mask[:, None, None, :] == 0, np.float32(-np.inf), np.float32(0))
        hidden = [x]
        for i in range(self.config.num_hidden_layers):
            hidden.append(self.layer(f"bert.encoder.layer.{i}.", hidden[-1], mask))
        out = self.head(hidden[-1])
        if output_hidden_states:
            out["hidden_states"] = tuple(hidden)
        return out

    def layer(self, p: str, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        batch, length, size = x.shape
        q, k, v = (
            self.linear(p + f"attention.self.{n}", x)
            .reshape(batch, length, self.heads, -1)
            .transpose(0, 2, 1, 3)
            for n in ("query", "key", "value")
        )
        scores = (q * self.scaling) @ k.transpose(0, 1, 3, 2)
        if mask is not None:
            scores = scores + mask
        attended = (softmax(scores, np.float32) @ v).transpose(0, 2, 1, 3).reshape(batch, length, size)
        x = self.norm(
            p + "attention.output.LayerNorm", self.linear(p + "attention.output.dense", attended) + x
        )
        inner = gelu(self.linear(p + "intermediate.dense", x))
        return self.norm(p + "output.LayerNorm", self.linear(p + "output.dense", inner) + x)

    def head(self, x: np.ndarray) -> dict[str, Any]:
        pooled = np.tanh(self.linear("bert.pooler.dense", x[:, 0])) if self.task in POOLED else None
        if self.task == "qa":
            logits = self.linear("qa_outputs", x)
            return {
                "start_logits": np.ascontiguousarray(logits[..., 0]),
                "end_logits": np.ascontiguousarray(logits[..., 1]),
            }
        if self.task == "ner":
            return {"logits": self.linear("classifier", x)}
        if self.task == "mlm":
            x = self.norm(
                "cls.predictions.transform.LayerNorm", gelu(self.linear("cls.predictions.transform.dense", x))
            )
            return {
                "logits": x @ self.w["bert.embeddings.word_embeddings.weight"].T
                + self.w["cls.predictions.bias"]
            }
        if self.task == "nsp":
            assert pooled is not None
            return {"logits": self.linear("cls.seq_relationship", pooled)}
        return {"last_hidden_state": x, "pooler_output": pooled}
