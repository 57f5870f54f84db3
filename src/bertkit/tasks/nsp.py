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

from ..checks import require_text, require_texts
from ..decoding import softmax
from ..encoding import TextInputs, text_inputs
from ..errors import InputError
from .base import Task

IS_NEXT = 0  # the label of "B follows A" in BERT's NSP head


@dataclass(frozen=True)
class NextSentence:
    """A candidate second sentence and the probability that it follows the first."""

    text: str
    is_next: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_inputs(tokenizer: Any, firsts: list[str], seconds: list[str], max_length: int) -> TextInputs:
    """Token ids (and segment ids) of `[CLS] A [SEP] B [SEP]` for each pair, as runtime inputs."""
    require_texts(firsts, "firsts", "the first sentence")
    require_texts(seconds, "seconds", "the second sentence")
    if len(firsts) != len(seconds):
        raise InputError(f"got {len(firsts)} first sentences but {len(seconds)} second sentences")
    batch = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)
    return text_inputs(tokenizer, batch)


def is_next_probabilities(logits: np.ndarray) -> np.ndarray:
    """P(IsNext) of each pair from its [IsNext, NotNext] logits.

    >>> is_next_probabilities(np.array([[0.0, 0.0], [np.log(3.0), 0.0]])).round(2).tolist()
    [0.5, 0.75]
    """
    return softmax(np.asarray(logits).reshape(-1, 2))[:, IS_NEXT]


def rank(candidates: list[str], probabilities: np.ndarray) -> list[NextSentence]:
    """Candidates best first; equal probabilities keep the input order.

    >>> [c.text for c in rank(["x", "y", "z"], np.array([0.2, 0.9, 0.2]))]
    ['y', 'x', 'z']
    """
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    return [NextSentence(candidates[i], float(probabilities[i])) for i in order]


class NextSentencePredictor(Task):
    """BERT's next-sentence prediction head, batched.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default (all-MiniLM-L6-v2
            with the NSP head trained here, see docs/default-heads.md).
        dtype, threads, max_tokens: see `tasks.base.Task`.

    >>> nsp = NextSentencePredictor("path/to/bert-base-uncased")  # doctest: +SKIP
    >>> nsp("I went to the store.", "I bought some milk.")  # doctest: +SKIP
    0.99
    >>> nsp.rank("I went to the store.", ["Penguins live in the south.", "I bought milk."])[0].text  # doctest: +SKIP
    'I bought milk.'
    """

    task = "nsp"

    def __call__(self, first: str, second: str) -> float:
        """P(`second` follows `first`)."""
        return float(self.score([first], [second])[0])

    def score(self, firsts: list[str], seconds: list[str]) -> np.ndarray:
        """P(IsNext) of each pair (parallel lists), all pairs batched together."""
        require_texts(firsts, "firsts", "the first sentence")
        require_texts(seconds, "seconds", "the second sentence")
        if not firsts and not seconds:
            return np.zeros(0)
        inputs = pair_inputs(self.model.tokenizer, firsts, seconds, self.model.max_length)
        logits = self.run(inputs, ("logits",), token_axes={"logits": ()})["logits"]
        return is_next_probabilities(np.stack(logits))

    def rank(self, first: str, candidates: list[str]) -> list[NextSentence]:
        """The candidates for the sentence after `first`, most likely first."""
        require_text(first, "the first sentence")
        require_texts(candidates, "candidates", "candidate")
        if not candidates:
            raise InputError("no candidate sentences to rank")
        return rank(candidates, self.score([first] * len(candidates), candidates))
