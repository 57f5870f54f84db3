"""The task base: a loaded model, the runtime that runs it, and its length limits, set up once for every
task class (QuestionAnswerer, EntityTagger, FillMask, NextSentencePredictor, Embedder, AttentionInspector).

A task class names the head it loads and how long its windows are by default:

    class QuestionAnswerer(Task):
        task = "qa"                  # load(model, task="qa")
        preferred_max_length = 384   # windows of 384 tokens, or fewer if the model takes fewer
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..checks import require_count
from ..encoding import ModelInputs
from ..errors import InputError
from ..loading import DEFAULT, Model, load
from ..runtime import Runtime

Options = TypeVar("Options")


def with_changes(options: Options | None, default: type[Options], changes: dict[str, Any]) -> Options:
    """`options` (default `default()`) with some fields changed, so `qa(q, c, top_k=3)` reads as it should
    and a misspelt field is an error, never ignored:

    >>> from bertkit.tasks.qa import QAOptions
    >>> with_changes(None, QAOptions, {"top_k": 3}).top_k
    3
    >>> with_changes(QAOptions(top_k=2), QAOptions, {"topk": 3})
    Traceback (most recent call last):
    TypeError: QAOptions.__init__() got an unexpected keyword argument 'topk'
    """
    if options is not None and not isinstance(options, default):
        raise InputError(f"options must be a {default.__name__}, got {type(options).__name__}")
    chosen = options if options is not None else default()
    return dataclasses.replace(chosen, **changes) if changes else chosen  # type: ignore[type-var]


class Task:
    """What every task class holds: `model` (tokenizer + module), `runtime`, and the count of windows run.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default of the task (run by
            `inference_bert`, which starts faster than transformers' classes and gives the same outputs).
        dtype: "auto" (bf16 where the CPU has bf16 matrix units, else fp32; `runtime.resolve_dtype`),
            "fp32", "bf16" or "int8" (faster, slightly different scores).
        threads: torch threads while the model runs (default: the usable cores).
        max_tokens: padded tokens per batch (default: the class's `max_tokens`, capped in fp32 by
            `runtime.batch_tokens`).
        light_start: for the embedded default in fp32 or "auto", start on `numpy_bert` in fp32 (no torch
            import: a one-shot command answers in about a second; `runtime.light_dtype`) and load the torch
            model the first time a call brings more than `numpy_bert.NUMPY_MAX_TOKENS` tokens; False (a
            server, a benchmark): torch from the start.
    """

    task: ClassVar[str]  # the head `load` gives the model: "qa", "ner", "mlm", "nsp" or "base"
    attn_implementation: ClassVar[str | None] = None  # "eager" where the attention weights are wanted
    preferred_max_length: ClassVar[int | None] = None  # default window tokens; None: the model's limit
    max_tokens: ClassVar[int] = 8192

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        dtype: str = "auto",
        threads: int | None = None,
        max_tokens: int | None = None,
        light_start: bool = True,
    ):
        if threads is not None:
            require_count(threads, "threads")
        if max_tokens is not None:
            require_count(max_tokens, "max_tokens")
        light = None  # the embedded default on numpy_bert, until the work grows
        if isinstance(model, Model):
            if self.attn_implementation is not None:
                model.module.set_attn_implementation(self.attn_implementation)
            self.model = model
        elif model in (None, DEFAULT) and self.attn_implementation is None:
            from .. import numpy_bert

            light = numpy_bert.load_default(self.task, dtype) if light_start else None
            self.model = light or self.torch_default()
        else:
            self.model = load(model, task=self.task, attn_implementation=self.attn_implementation)
        self.runtime_settings: dict[str, Any] = {"dtype": dtype, "threads": threads, "max_tokens": max_tokens}
        self.runtime = self.new_runtime()
        self.light_started = light is not None
        self.windows_seen = 0

    def torch_default(self) -> Model:
        """The embedded default on torch: `inference_bert` (no transformers modeling), else transformers."""
        from ..inference_bert import load_default

        return load_default(self.task) or load(None, task=self.task)

    def new_runtime(self) -> Runtime:
        return Runtime(
            self.model.module,
            budget=self.max_tokens,
            pad_token_id=self.model.tokenizer.pad_token_id or 0,
            **self.runtime_settings,
        )

    @property
    def notes(self) -> list[str]:
        """What a user should see: which model answers, its caveats, and the dtype "auto" chose
        (`Runtime.notes`)."""
        return [f"model {self.model.described}", *self.model.notes, *self.runtime.notes]

    @property
    def default_max_length(self) -> int:
        """Tokens per window when none are asked for: `preferred_max_length`, or less if the model takes less."""
        limit = self.model.max_length
        return limit if self.preferred_max_length is None else min(self.preferred_max_length, limit)

    def window_length(self, max_length: int | None) -> int:
        """`max_length` (default `default_max_length`), checked against the model's positions."""
        return self.model.check_max_length(max_length or self.default_max_length)

    def run(
        self,
        inputs: ModelInputs,
        outputs: tuple[str, ...],
        *,
        token_axes: Mapping[str, tuple[int, ...]] | None = None,
        rows: Sequence[np.ndarray] | None = None,
    ) -> dict[str, list[np.ndarray]]:
        """The model's `outputs` for each input window (see `Runtime.forward` for `token_axes`, `rows`)."""
        from ..numpy_bert import NUMPY_MAX_TOKENS

        if self.light_started and sum(len(w) for w in inputs.input_ids) > NUMPY_MAX_TOKENS:
            self.model = self.torch_default()  # the same weights, the same tokenizer; torch from now on
            self.runtime = self.new_runtime()
            self.light_started = False
        feed = {"input_ids": inputs.input_ids}
        if inputs.token_type_ids is not None:
            feed["token_type_ids"] = inputs.token_type_ids
        self.windows_seen += len(inputs.input_ids)
        return self.runtime.forward(feed, outputs, token_axes=token_axes, rows=rows)
