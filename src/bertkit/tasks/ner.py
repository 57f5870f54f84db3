"""Named-entity recognition (token classification): text of any length → entities with character offsets.

encode (`encoding.token_windows`) → run (`runtime.Runtime`) → pick each token's best window
(`decoding.best_window_tokens`) → decode (`ner_decoding.decode_entities`: units, BIO labels, entities; the
aggregation strategies and where bertkit differs from the transformers pipeline are described there).

Long texts go through overlapping windows; each token takes its prediction from the window where it has the
most context on both sides (the "max context" rule of BERT's run_squad.py), and words and entities are built
once over the whole text. The pipeline without `stride` silently drops everything after `model_max_length`
tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import require_choice, require_count, require_texts
from ..decoding import best_window_tokens
from ..encoding import default_stride, token_windows
from ..errors import InputError
from .base import Task, with_changes
from .ner_decoding import AGGREGATIONS, DECODINGS, Entity, allowed_labels, decode_entities

__all__ = ["AGGREGATIONS", "DECODINGS", "Entity", "EntityTagger", "NEROptions"]


@dataclass(frozen=True)
class NEROptions:
    """How to tag: the settings of `EntityTagger`, declared once (the CLI and the server build this).

    Args:
        aggregation: "none", "simple", "first", "average" or "max" (see `ner_decoding`).
        ignore_labels: labels ("none") or entity types (the others) left out of the result.
        decoding: "viterbi" (each text's most probable valid BIO sequence) or "argmax" (each token's or
            word's own most probable label, as the transformers pipeline; use it for IOB1 models, whose
            entities may start with I-).
        entity_types: only these entity types may be tagged (the model chooses among O and their B-/I-
            labels, probabilities renormalised); None: every type the model knows. A bilingual model scored
            on KLUE-NER is held to KLUE's six types this way.
        max_length: tokens per window (default 512, or less if the model allows less).
        stride: tokens shared by consecutive windows (default 128, or half a small window).

    >>> NEROptions(aggregation="simple").aggregation
    'simple'
    """

    aggregation: str = "first"
    ignore_labels: tuple[str, ...] = ("O",)
    decoding: str = "viterbi"
    entity_types: tuple[str, ...] | None = None
    max_length: int | None = None
    stride: int | None = None

    def __post_init__(self) -> None:
        require_choice(self.aggregation, "aggregation", AGGREGATIONS)
        require_choice(self.decoding, "decoding", DECODINGS)
        object.__setattr__(self, "ignore_labels", _names(self.ignore_labels, "ignore_labels"))
        if self.entity_types is not None:
            object.__setattr__(self, "entity_types", _names(self.entity_types, "entity_types"))
        if self.max_length is not None:
            require_count(self.max_length, "max_length", minimum=2)
        if self.stride is not None:
            require_count(self.stride, "stride", minimum=0)


def _names(value: Any, field: str) -> tuple[str, ...]:
    """A list of label or type names as a tuple (an `InputError` for a bare string or a non-string)."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise InputError(f"{field} must be a list of names, got {value!r}")
    for name in value:
        if not isinstance(name, str):
            raise InputError(f"{field} must hold names (strings), got {name!r}")
    return tuple(value)


# --- the tagger ---------------------------------------------------------------------------------------------


class EntityTagger(Task):
    """Token classification (NER) over texts of any length.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default (English PER/LOC/ORG).
        dtype, threads, max_tokens: see `tasks.base.Task`.

    >>> tagger = EntityTagger("path/to/ner-model")  # doctest: +SKIP
    >>> tagger("My name is Sylvain and I work at Hugging Face in Brooklyn.")  # doctest: +SKIP
    [Entity(label='PER', score=0.99, word='Sylvain', start=11, end=18), Entity(label='ORG', ...), ...]
    """

    task = "ner"
    preferred_max_length = 512

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.module.config.id2label.items()}

    @property
    def labels(self) -> list[str]:
        id2label = self.id2label
        return [id2label[i] for i in range(len(id2label))]

    def __call__(self, text: str, options: NEROptions | None = None, **changes: Any) -> list[Entity]:
        """The entities of one text: `tagger(text, aggregation="first")` (`changes`: `NEROptions` fields)."""
        return self.tag_many([text], options, **changes)[0]

    def token_logits(
        self, texts: Sequence[str], max_length: int | None = None, stride: int | None = None
    ) -> dict[str, np.ndarray]:
        """Run the model over the windows of `texts`; per text token (each from its best window):
        `logits` [tokens, labels], `offsets`, `word_ids`, `doc`, `index` (position + leading specials)."""
        require_texts(texts, "texts")
        max_length = self.window_length(max_length)
        tokenizer = self.model.tokenizer
        stride = default_stride(tokenizer, max_length) if stride is None else stride
        windows = token_windows(tokenizer, texts, max_length, stride)
        out = self.run(windows, ("logits",))["logits"]
        tokens = best_window_tokens(windows)
        logits = np.concatenate(out) if out else np.zeros((0, len(self.id2label)), np.float32)
        return {
            "logits": logits[tokens["flat"]],
            "offsets": tokens["offsets"],
            "word_ids": tokens["word_ids"],
            "doc": tokens["doc"],
            "index": tokens["position"] + windows.prefix,
        }

    def tag_many(
        self, texts: Sequence[str], options: NEROptions | None = None, **changes: Any
    ) -> list[list[Entity]]:
        """Entities of many texts at once: all windows of all texts are batched together.

        Args:
            texts: the texts.
            options: how to tag (default `NEROptions()`).
            changes: `NEROptions` fields to change; a name that is not a field is a TypeError.
        """
        require_texts(texts, "texts")
        options = with_changes(options, NEROptions, changes)
        allowed_labels(self.labels, options.entity_types)  # an unknown type fails before the model runs
        if not texts:
            return []
        tokens = self.token_logits(texts, options.max_length, options.stride)
        return decode_entities(
            tokens["logits"],
            tokens["offsets"],
            tokens["word_ids"],
            tokens["doc"],
            texts,
            self.id2label,
            options.aggregation,
            options.ignore_labels,
            index=tokens["index"],
            decoding=options.decoding,
            entity_types=options.entity_types,
        )
