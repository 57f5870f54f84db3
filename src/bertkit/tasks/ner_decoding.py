"""NER decoding, pure numpy: per-token logits of many texts → each text's entities with character offsets.

tokens → units (tokens or words: `token_units`, `word_units`) → one label per unit (`unit_labels`: the best
valid BIO sequence, or each unit's own best) → entities (`token_entities`, `group_entities`).

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
- Labels: by default each text's units take the most probable sequence of labels that is valid BIO (an I-X
  follows a B-X or an I-X; `bio_viterbi`), not each unit's own best label (`decoding="argmax"`, the
  pipeline's way). The model's per-unit guesses often break an entity into pieces: 멕 시 코 tagged
  B-OG I-LC I-LC gives OG 멕 + LC 시코; the best valid sequence is B-LC I-LC I-LC, LC 멕시코.
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
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import require_choice
from ..decoding import softmax, strip_span
from ..errors import InputError
from ..particles import is_syllable, particle_end

AGGREGATIONS: tuple[str, ...] = ("none", "simple", "first", "average", "max")
WORD_AGGREGATIONS = ("first", "average", "max")
DECODINGS: tuple[str, ...] = ("viterbi", "argmax")


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


@dataclass
class Units:
    """Tokens or words: per unit, its label probabilities [units, labels], its text and characters."""

    probs: np.ndarray
    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray


def token_units(probs: np.ndarray, offsets: np.ndarray, doc: np.ndarray) -> Units:
    """Each token is a unit ("none", "simple")."""
    return Units(probs, doc, offsets[:, 0], offsets[:, 1])


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
    return Units(unit_probs, doc[first], offsets[first, 0], offsets[last, 1])


def split_label(label: str) -> tuple[bool, str]:
    """(is a B- label, entity type): "B-PER" → (True, "PER"), "I-PER" → (False, "PER"), "O" → (False, "O").

    A label without a B-/I- prefix is its own type and continues a group, as in the pipeline.
    """
    if label.startswith(("B-", "I-")):
        return label[0] == "B", label[2:]
    return False, label


def token_entities(
    units: Units,
    label: np.ndarray,
    labels: list[str],
    texts: Sequence[str],
    ignore_labels: Sequence[str],
    index: np.ndarray,
) -> list[list[Entity]]:
    """One entity per token whose label (`label`: a label id per unit) is not ignored ("none"), with its
    position `index`."""
    results: list[list[Entity]] = [[] for _ in texts]
    score = units.probs[np.arange(len(label)), label]
    keep = np.flatnonzero(~np.isin(np.asarray(labels, dtype=object)[label], list(ignore_labels)))
    for u in keep:
        d = int(units.doc[u])
        entity = _entity(texts[d], labels[label[u]], score[u], units.start[u], units.end[u])
        if entity is not None:
            results[d].append(_with_index(entity, int(index[u])))
    return results


def group_entities(
    units: Units, label: np.ndarray, labels: list[str], texts: Sequence[str], ignore_labels: Sequence[str]
) -> list[list[Entity]]:
    """Units labelled `label` (a label id per unit) → entities: a unit starts a new group at a new text, at
    a B- label, or when its type changes; a group scores the mean of its units' label probabilities. Groups
    of an ignored type are left out."""
    results: list[list[Entity]] = [[] for _ in texts]
    parts = [split_label(name) for name in labels]
    is_b = np.asarray([b for b, _ in parts], dtype=bool)[label]
    types = sorted({t for _, t in parts})
    type_id = np.asarray([types.index(t) for _, t in parts], dtype=np.int64)[label]
    score = units.probs[np.arange(len(label)), label]
    m = len(label)
    new = np.ones(m, dtype=bool)
    new[1:] = (units.doc[1:] != units.doc[:-1]) | is_b[1:] | (type_id[1:] != type_id[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:], m) - 1
    sizes = np.diff(np.append(first, m))
    group_score = np.add.reduceat(score.astype(np.float64), first) / sizes
    ignored = np.isin(np.asarray(types, dtype=object)[type_id[first]], list(ignore_labels))
    for g in np.flatnonzero(~ignored):
        d = int(units.doc[first[g]])
        kind = types[type_id[first[g]]]
        start, end = int(units.start[first[g]]), int(units.end[last[g]])
        end = particle_end(texts[d], start, int(units.start[last[g]]), end)
        entity = _entity(texts[d], kind, group_score[g], start, end)
        if entity is not None:
            results[d].append(entity)
    return results


def entity_types_of(labels: Sequence[str]) -> list[str]:
    """The entity types a label set tags, sorted: ["O", "B-PER", "I-PER", "LOC"] → ["LOC", "PER"]."""
    return sorted({split_label(name)[1] for name in labels} - {"O"})


def allowed_labels(labels: Sequence[str], entity_types: Sequence[str] | None) -> np.ndarray:
    """Which labels may be chosen: all (None), or O and the labels of `entity_types` (an `InputError` names
    a type the model does not know).

    >>> allowed_labels(["O", "B-PER", "I-PER", "B-LC", "I-LC"], ["LC"]).tolist()
    [True, False, False, True, True]
    """
    if entity_types is None:
        return np.ones(len(labels), dtype=bool)
    if not entity_types:
        raise InputError("entity_types must name at least one type (None: every type)")
    if "O" not in labels:
        raise InputError("entity_types needs a model with an O label (for the tokens of no chosen type)")
    known = entity_types_of(labels)
    unknown = [t for t in entity_types if t not in known]
    if unknown:
        raise InputError(f"entity_types: the model has no type {unknown[0]!r}; its types: {', '.join(known)}")
    return np.asarray([name == "O" or split_label(name)[1] in entity_types for name in labels], dtype=bool)


def bio_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(may start a text [labels], may follow [previous, next]): an I-X only after B-X or I-X, never first.

    Types without a B- label (IO tagging) are left free, as are labels without a prefix.

    >>> first, follow = bio_transitions(["O", "B-PER", "I-PER"])
    >>> first.tolist(), follow[:, 2].tolist()
    ([True, True, False], [False, True, True])
    """
    parts = [split_label(name) for name in labels]
    has_b = {t for name, (_, t) in zip(labels, parts, strict=True) if name.startswith("B-")}
    inside = [name.startswith("I-") and t in has_b for name, (_, t) in zip(labels, parts, strict=True)]
    first = ~np.asarray(inside, dtype=bool)
    follow = np.ones((len(labels), len(labels)), dtype=bool)
    for j, (_, t) in enumerate(parts):
        if inside[j]:
            follow[:, j] = [labels[i] in (f"B-{t}", f"I-{t}") for i in range(len(labels))]
    return first, follow


def bio_viterbi(probs: np.ndarray, doc: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Per unit, the label id on each text's most probable label sequence that is valid BIO
    (`bio_transitions`); all texts at once, one step per unit position.

    Example: 멕 시 코, each unit's best two labels B-OG .5 B-LC .4 | I-LC .6 I-OG .3 | I-LC .7 I-OG .2.
    One by one: B-OG I-LC I-LC (OG 멕 + LC 시코). Valid sequences: B-OG I-OG I-OG scores .5·.3·.2 = .03,
    B-LC I-LC I-LC .4·.6·.7 = .168: LC 멕시코.

    >>> labels = ["O", "B-OG", "I-OG", "B-LC", "I-LC"]
    >>> probs = np.array([[0, .5, 0, .4, .1], [.1, 0, .3, 0, .6], [.1, 0, .2, 0, .7]])
    >>> [labels[i] for i in bio_viterbi(probs, np.zeros(3, int), labels)]
    ['B-LC', 'I-LC', 'I-LC']
    """
    first_ok, follow_ok = bio_transitions(labels)
    start_cost = np.where(first_ok, 0.0, -np.inf)
    step_cost = np.where(follow_ok, 0.0, -np.inf)
    with np.errstate(divide="ignore"):
        logp = np.log(probs.astype(np.float64))  # a label ruled out (probability 0) is -inf
    m = len(doc)
    text_first = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    sizes = np.diff(np.append(text_first, m))
    score = logp[text_first] + start_cost  # [texts, labels]: best path ending in each label
    back = np.zeros(logp.shape, dtype=np.int64)  # per unit: the previous unit's label on that path
    for t in range(1, int(sizes.max())):
        live = np.flatnonzero(sizes > t)
        paths = score[live][:, :, None] + step_cost  # [live, previous, next]
        unit = text_first[live] + t
        back[unit] = paths.argmax(axis=1)
        score[live] = paths.max(axis=1) + logp[unit]
    label = np.zeros(m, dtype=np.int64)
    label[text_first + sizes - 1] = score.argmax(axis=1)
    for t in range(int(sizes.max()) - 1, 0, -1):
        unit = text_first[np.flatnonzero(sizes > t)] + t
        label[unit - 1] = back[unit, label[unit]]
    # A text whose every valid path holds a probability that underflowed to 0 (logit gaps > ~100): each
    # unit's own best label, as argmax decodes it.
    lost = np.repeat(~np.isfinite(score.max(axis=1)), sizes)
    label[lost] = probs[lost].argmax(axis=1)
    return label


def unit_labels(units: Units, labels: Sequence[str], decoding: str) -> np.ndarray:
    """A label id per unit: the best valid BIO sequence ("viterbi") or each unit's own best ("argmax")."""
    if decoding == "viterbi":
        return bio_viterbi(units.probs, units.doc, labels)
    return units.probs.argmax(axis=1)


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
    decoding: str = "viterbi",
    entity_types: Sequence[str] | None = None,
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
        decoding: "viterbi" (each text's best valid BIO sequence) or "argmax" (each unit's best label).
        entity_types: only these types may be tagged (`allowed_labels`); None: all.

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
    require_choice(decoding, "decoding", DECODINGS)
    labels = [id2label[i] for i in range(len(id2label))]
    allowed = allowed_labels(labels, entity_types)
    if len(doc) == 0:
        return [[] for _ in texts]
    doc = np.asarray(doc, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if not allowed.all():
        logits = np.where(allowed, logits, -np.inf)
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
    label = unit_labels(units, labels, decoding)
    if aggregation == "none":
        if index is None:
            index = np.arange(len(doc)) - np.searchsorted(doc, doc, side="left")
        return token_entities(units, label, labels, texts, ignore_labels, index)
    return group_entities(units, label, labels, texts, ignore_labels)


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
