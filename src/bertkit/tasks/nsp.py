"""Next-sentence prediction: does B follow A? One probability per pair, or candidates ranked for one A.

encode (`pair_inputs`) → run (`runtime.Runtime`, one [2] logit pair per input) → decode
(`is_next_probabilities`, `rank`).

BERT's NSP head (`BertForNextSentencePrediction`) scores `[CLS] A [SEP] B [SEP]` with two logits: label 0
is "B is the next sentence" (IsNext), label 1 is "B is a random sentence". A pair longer than the model's
limit is cut, the longer text first (`longest_first`), as BERT's pre-training data was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..encoding import require_text, uses_token_type_ids
from ..errors import InputError
from ..loading import Model, load
from ..runtime import Runtime

IS_NEXT = 0  # the label of "B follows A" in BERT's NSP head


@dataclass(frozen=True)
class NextSentence:
    """A candidate second sentence and the probability that it follows the first."""

    text: str
    is_next: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_inputs(tokenizer: Any, firsts: list[str], seconds: list[str], max_length: int) -> dict:
    """Token ids (and segment ids) of `[CLS] A [SEP] B [SEP]` for each pair, as runtime inputs."""
    if len(firsts) != len(seconds):
        raise InputError(f"got {len(firsts)} first sentences but {len(seconds)} second sentences")
    for a, b in zip(firsts, seconds, strict=True):
        require_text(a, "the first sentence")
        require_text(b, "the second sentence")
    batch = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)
    inputs = {"input_ids": [np.asarray(ids, dtype=np.int64) for ids in batch["input_ids"]]}
    if uses_token_type_ids(tokenizer):
        inputs["token_type_ids"] = [np.asarray(t, dtype=np.int64) for t in batch["token_type_ids"]]
    return inputs


def is_next_probabilities(logits: np.ndarray) -> np.ndarray:
    """P(IsNext) of each pair from its [IsNext, NotNext] logits.

    >>> is_next_probabilities(np.array([[0.0, 0.0], [np.log(3.0), 0.0]])).round(2).tolist()
    [0.5, 0.75]
    """
    x = np.asarray(logits, dtype=np.float64).reshape(-1, 2)
    x = np.exp(x - x.max(axis=1, keepdims=True))
    return x[:, IS_NEXT] / x.sum(axis=1)


def rank(candidates: list[str], probabilities: np.ndarray) -> list[NextSentence]:
    """Candidates best first; equal probabilities keep the input order.

    >>> [c.text for c in rank(["x", "y", "z"], np.array([0.2, 0.9, 0.2]))]
    ['y', 'x', 'z']
    """
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    return [NextSentence(candidates[i], float(probabilities[i])) for i in order]


class NextSentencePredictor:
    """BERT's next-sentence prediction head, batched.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default (all-MiniLM-L6-v2
            with the NSP head trained here, see docs/default-heads.md).
        dtype: "fp32" or "bf16".
        threads: torch threads (default: the usable cores).

    >>> nsp = NextSentencePredictor("path/to/bert-base-uncased")  # doctest: +SKIP
    >>> nsp("I went to the store.", "I bought some milk.")  # doctest: +SKIP
    0.99
    >>> nsp.rank("I went to the store.", ["Penguins live in the south.", "I bought milk."])[0].text  # doctest: +SKIP
    'I bought milk.'
    """

    def __init__(self, model: Model | str | None = None, *, dtype: str = "fp32", threads: int | None = None):
        self.model = model if isinstance(model, Model) else load(model, task="nsp")
        self.runtime = Runtime(
            self.model.module,
            dtype=dtype,
            threads=threads,
            pad_token_id=self.model.tokenizer.pad_token_id or 0,
        )

    def __call__(self, first: str, second: str) -> float:
        """P(`second` follows `first`)."""
        return float(self.score([first], [second])[0])

    def score(self, firsts: list[str], seconds: list[str]) -> np.ndarray:
        """P(IsNext) of each pair (parallel lists), all pairs batched together."""
        if not firsts and not seconds:
            return np.zeros(0)
        inputs = pair_inputs(self.model.tokenizer, firsts, seconds, self.model.max_length)
        logits = self.runtime.forward(inputs, ("logits",), token_axes={"logits": ()})["logits"]
        return is_next_probabilities(np.stack(logits))

    def rank(self, first: str, candidates: list[str]) -> list[NextSentence]:
        """The candidates for the sentence after `first`, most likely first."""
        if not candidates:
            raise InputError("no candidate sentences to rank")
        return rank(candidates, self.score([first] * len(candidates), candidates))
