"""Named-entity recognition (token classification): text of any length → entities with character offsets.

encode (`encoding.token_windows`) → run (`runtime.Runtime`) → pick each token's best window
(`decoding.best_window_tokens`) → decode (`decode_entities`, pure numpy: tokens → units (tokens or words,
`token_units`, `word_units`) → entities (`token_entities`, `group_entities`)).

Aggregation strategies, as in the transformers token-classification pipeline:

    "none"     one result per token whose label is not ignored: {entity, score, index, word, start, end}
    "simple"   tokens → groups: a token joins the previous group when it has the same type and is not B-
    "first"    tokens → words (the label of the word's first token), then words → groups as in "simple"
    "average"  tokens → words (probabilities averaged over the word's tokens), then groups
    "max"      tokens → words (the token with the highest probability decides), then groups

Example, "My name is Sylvain and I work at Hugging Face in Brooklyn." with bert-base-cased: the tokens
S ##yl ##va ##in are one word (the tokenizer's word_ids say so); tagged B-PER I-PER I-PER I-PER they become
one entity {entity_group: PER, word: "Sylvain", start: 11, end: 18}; Hu ##gging Face tagged B-ORG I-ORG
I-ORG become {ORG, "Hugging Face", 33, 45}.

Where bertkit differs from the pipeline (each on purpose; see docs/ner.md):
- `word` is always `text[start:end]`, the caller's characters; the pipeline decodes tokens ("##yl" for
  "none", "hugging face" from an uncased model, "New - York" for "New-York").
- Words come from the fast tokenizer's `word_ids`; the pipeline guesses them from token strings, which
  goes wrong for byte-level BPE (a comma glued to the previous word; an emoji split into byte tokens at
  the start of a text becomes two overlapping words) and for WordPiece when the normaliser drops a
  character (a soft hyphen inside a word glues the word to the previous one).
- Entity spans never start or end with whitespace (byte-level and sentencepiece offsets include the space
  before a word) and never end before a combining mark (uncased BERT offsets drop a trailing U+0301).
- Korean: a Hangul word (eojeol) is a noun and its particles (이순신은, 서울에서), so for the word strategies
  each Hangul token is its own unit (the model's own decision per syllable, as KLUE labels characters), and
  a particle glued inside an entity's last token is cut off by the QA decoder's rule
  (`particles.particle_end`: mBERT's 정 ##육 ##점을 → 정육점). The pipeline returns 이순신은.
- Long texts go through overlapping windows; each token takes its prediction from the window where it has
  the most context on both sides (the "max context" rule of BERT's run_squad.py), and words and entities
  are built once over the whole text. The pipeline without `stride` silently drops everything after
  `model_max_length` tokens.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import require_choice, require_count, require_texts
from ..decoding import best_window_tokens, softmax, strip_span
from ..encoding import default_stride, token_windows
from ..errors import InputError
from ..particles import is_syllable, particle_end
from .base import Task, with_changes

AGGREGATIONS: tuple[str, ...] = ("none", "simple", "first", "average", "max")
WORD_AGGREGATIONS = ("first", "average", "max")


@dataclass(frozen=True)
class NEROptions:
    """How to tag: the settings of `EntityTagger`, declared once (the CLI and the server build this).

    Args:
        aggregation: "none", "simple", "first", "average" or "max" (see the module docstring).
        ignore_labels: labels ("none") or entity types (the others) left out of the result.
        max_length: tokens per window (default 512, or less if the model allows less).
        stride: tokens shared by consecutive windows (default 128, or half a small window).

    >>> NEROptions(aggregation="simple").aggregation
    'simple'
    """

    aggregation: str = "first"
    ignore_labels: tuple[str, ...] = ("O",)
    max_length: int | None = None
    stride: int | None = None

    def __post_init__(self) -> None:
        require_choice(self.aggregation, "aggregation", AGGREGATIONS)
        if isinstance(self.ignore_labels, str) or not isinstance(self.ignore_labels, (tuple, list)):
            raise InputError(f"ignore_labels must be a list of labels, got {self.ignore_labels!r}")
        for label in self.ignore_labels:
            if not isinstance(label, str):
                raise InputError(f"ignore_labels must hold label names (strings), got {label!r}")
        object.__setattr__(self, "ignore_labels", tuple(self.ignore_labels))
        if self.max_length is not None:
            require_count(self.max_length, "max_length", minimum=2)
        if self.stride is not None:
            require_count(self.stride, "stride", minimum=0)


@dataclass(frozen=True)
class Entity:
    """One result: `text[start:end] == word`, Python string indices into the caller's text.

    Args:
        label: the label of the token ("B-PER", aggregation "none") or the entity type ("PER", otherwise).
        score: the probability of the label (for groups: the mean over the group's tokens or words).
        word: `text[start:end]`.
        start, end: character offsets.
        index: with aggregation "none", the token's position in the text's encoding as if it fitted in one
            window (special tokens counted: the first token after [CLS] is 1, as in the pipeline).
    """

    label: str
    score: float
    word: str
    start: int
    end: int
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The pipeline's keys: {entity, score, index, word, start, end} for single tokens,
        {entity_group, score, word, start, end} for groups."""
        if self.index is not None:
            return {
                "entity": self.label,
                "score": self.score,
                "index": self.index,
                "word": self.word,
                "start": self.start,
                "end": self.end,
            }
        return {
            "entity_group": self.label,
            "score": self.score,
            "word": self.word,
            "start": self.start,
            "end": self.end,
        }


# --- decoding -----------------------------------------------------------------------------------------------


@dataclass
class Units:
    """Tokens or words, each with its best label: the label id, its probability, its text and characters."""

    label: np.ndarray
    score: np.ndarray
    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def best(cls, probs: np.ndarray, doc: np.ndarray, start: np.ndarray, end: np.ndarray) -> Units:
        label = probs.argmax(axis=1)
        return cls(label, probs[np.arange(len(label)), label], doc, start, end)


def token_units(probs: np.ndarray, offsets: np.ndarray, doc: np.ndarray) -> Units:
    """Each token is a unit ("none", "simple")."""
    return Units.best(probs, doc, offsets[:, 0], offsets[:, 1])


def word_units(
    probs: np.ndarray,
    offsets: np.ndarray,
    word_ids: np.ndarray,
    doc: np.ndarray,
    aggregation: str,
    hangul: np.ndarray | None = None,
) -> Units:
    """Tokens → words ("first", "average", "max"): a word is a run of tokens with the same word id, except
    that a token starting with a Hangul syllable (`hangul`, per token) is a unit of its own.

    "first" takes the probabilities of the word's first token, "average" their mean over its tokens, "max"
    those of the token with the highest probability (the first of equals).
    """
    n = len(doc)
    new = np.ones(n, dtype=bool)
    new[1:] = (doc[1:] != doc[:-1]) | (word_ids[1:] != word_ids[:-1]) | (word_ids[1:] < 0)
    if hangul is not None:
        new |= hangul
    first = np.flatnonzero(new)
    last = np.append(first[1:], n) - 1
    if aggregation == "first":
        unit_probs = probs[first]
    elif aggregation == "average":
        sizes = np.diff(np.append(first, n)).astype(np.float32)
        unit_probs = np.add.reduceat(probs, first, axis=0) / sizes[:, None]
    else:  # max
        word = np.cumsum(new) - 1
        best = np.lexsort((np.arange(n), -probs.max(axis=1), word))
        unit_probs = probs[best[first]]
    return Units.best(unit_probs, doc[first], offsets[first, 0], offsets[last, 1])


def split_label(label: str) -> tuple[bool, str]:
    """(is a B- label, entity type): "B-PER" → (True, "PER"), "I-PER" → (False, "PER"), "O" → (False, "O").

    A label without a B-/I- prefix is its own type and continues a group, as in the pipeline.
    """
    if label.startswith(("B-", "I-")):
        return label[0] == "B", label[2:]
    return False, label


def token_entities(
    units: Units, labels: list[str], texts: Sequence[str], ignore_labels: Sequence[str], index: np.ndarray
) -> list[list[Entity]]:
    """One entity per token whose label is not ignored ("none"), with its position `index`."""
    results: list[list[Entity]] = [[] for _ in texts]
    keep = np.flatnonzero(~np.isin(np.asarray(labels, dtype=object)[units.label], list(ignore_labels)))
    for u in keep:
        d = int(units.doc[u])
        entity = _entity(texts[d], labels[units.label[u]], units.score[u], units.start[u], units.end[u])
        if entity is not None:
            results[d].append(_with_index(entity, int(index[u])))
    return results


def group_entities(
    units: Units, labels: list[str], texts: Sequence[str], ignore_labels: Sequence[str]
) -> list[list[Entity]]:
    """Units → entities: a unit starts a new group at a new text, at a B- label, or when its type changes;
    a group scores the mean of its units' scores. Groups of an ignored type are left out."""
    results: list[list[Entity]] = [[] for _ in texts]
    parts = [split_label(label) for label in labels]
    is_b = np.asarray([b for b, _ in parts], dtype=bool)[units.label]
    types = sorted({t for _, t in parts})
    type_id = np.asarray([types.index(t) for _, t in parts], dtype=np.int64)[units.label]
    m = len(units.label)
    new = np.ones(m, dtype=bool)
    new[1:] = (units.doc[1:] != units.doc[:-1]) | is_b[1:] | (type_id[1:] != type_id[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:], m) - 1
    sizes = np.diff(np.append(first, m))
    group_score = np.add.reduceat(units.score.astype(np.float64), first) / sizes
    ignored = np.isin(np.asarray(types, dtype=object)[type_id[first]], list(ignore_labels))
    for g in np.flatnonzero(~ignored):
        d = int(units.doc[first[g]])
        label = types[type_id[first[g]]]
        start, end = int(units.start[first[g]]), int(units.end[last[g]])
        end = particle_end(texts[d], start, int(units.start[last[g]]), end)
        entity = _entity(texts[d], label, group_score[g], start, end)
        if entity is not None:
            results[d].append(entity)
    return results


def decode_entities(
    logits: np.ndarray,
    offsets: np.ndarray,
    word_ids: np.ndarray,
    doc: np.ndarray,
    texts: Sequence[str],
    id2label: dict[int, str],
    aggregation: str = "first",
    ignore_labels: Sequence[str] = ("O",),
    index: np.ndarray | None = None,
) -> list[list[Entity]]:
    """Turn per-token logits of many texts into each text's entities; vectorised over all tokens.

    Args:
        logits: [tokens, labels], the text tokens of all texts, in text order (no special tokens).
        offsets: [tokens, 2] character spans of the tokens in their text.
        word_ids: [tokens] word index of each token in its text (from the fast tokenizer).
        doc: [tokens] the text each token belongs to (non-decreasing).
        texts: the texts.
        id2label: label id → label string.
        aggregation: "none", "simple", "first", "average" or "max" (see the module docstring).
        ignore_labels: labels (for "none") or entity types (otherwise) left out of the result.
        index: [tokens] the token positions reported with "none" (default: 0, 1, 2, ... per text).

    >>> import numpy as np
    >>> logits = np.log(np.array([[0.1, 0.9, 0.0], [0.2, 0.0, 0.8], [0.9, 0.05, 0.05]]) + 1e-9)
    >>> offsets = np.array([[0, 2], [2, 4], [5, 7]])
    >>> labels = {0: "O", 1: "B-PER", 2: "I-PER"}
    >>> entities = decode_entities(logits, offsets, np.array([0, 0, 1]), np.zeros(3, int), ["Sylv is"], labels,
    ...     "simple")
    >>> [(e.label, e.word, e.start, e.end, round(e.score, 2)) for e in entities[0]]
    [('PER', 'Sylv', 0, 4, 0.85)]
    """
    require_choice(aggregation, "aggregation", AGGREGATIONS)
    if len(doc) == 0:
        return [[] for _ in texts]
    doc = np.asarray(doc, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    probs = softmax(logits, np.float32)  # float32, as the pipeline computes it
    if aggregation in WORD_AGGREGATIONS:
        hangul = np.fromiter(
            (s < len(texts[d]) and is_syllable(texts[d][s]) for d, s in zip(doc, offsets[:, 0], strict=True)),
            dtype=bool,
            count=len(doc),
        )
        units = word_units(probs, offsets, np.asarray(word_ids, dtype=np.int64), doc, aggregation, hangul)
    else:
        units = token_units(probs, offsets, doc)
    labels = [id2label[i] for i in range(len(id2label))]
    if aggregation == "none":
        if index is None:
            index = np.arange(len(doc)) - np.searchsorted(doc, doc, side="left")
        return token_entities(units, labels, texts, ignore_labels, index)
    return group_entities(units, labels, texts, ignore_labels)


def _entity(text: str, label: str, score: Any, start: Any, end: Any) -> Entity | None:
    """An entity over `text[start:end]`, its span trimmed of surrounding whitespace and extended over the
    combining marks that follow it; None when nothing but whitespace is left."""
    start, end = strip_span(text, int(start), int(end))
    if start >= end:
        return None
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):
        end += 1
    return Entity(label=label, score=float(score), word=text[start:end], start=start, end=end)


def _with_index(entity: Entity, index: int) -> Entity:
    return Entity(entity.label, entity.score, entity.word, entity.start, entity.end, index)


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
        )
