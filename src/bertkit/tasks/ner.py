"""Named-entity recognition (token classification): text of any length → entities with character offsets.

encode (`token_windows`) → run (`runtime.Runtime`) → pick each token's best window (`best_window_tokens`)
→ decode (`decode_entities`, pure numpy).

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
- Long texts go through overlapping windows; each token takes its prediction from the window where it has
  the most context on both sides (the "max context" rule of BERT's run_squad.py), and words and entities
  are built once over the whole text. The pipeline without `stride` silently drops everything after
  `model_max_length` tokens.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..encoding import check_window, require_text, uses_token_type_ids
from ..errors import InputError
from ..loading import Model, load
from ..runtime import Runtime

Aggregation = Literal["none", "simple", "first", "average", "max"]
AGGREGATIONS: tuple[str, ...] = ("none", "simple", "first", "average", "max")
WORD_AGGREGATIONS = ("first", "average", "max")


def check_aggregation(aggregation: str) -> None:
    """Raise `InputError` for an unknown aggregation strategy."""
    if aggregation not in AGGREGATIONS:
        raise InputError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")


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
        check_aggregation(self.aggregation)
        object.__setattr__(self, "ignore_labels", tuple(self.ignore_labels))


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


# --- encoding -----------------------------------------------------------------------------------------------


@dataclass
class TokenWindows:
    """The windows of a batch of texts, and where each window's text tokens sit in their text.

    Args:
        input_ids: per window, int64 token ids, special tokens included (no padding).
        token_type_ids: per window segment ids, or None when the model takes none.
        text_mask: per window, True for tokens of the text (False for special tokens).
        offsets: per window, int64 [length, 2] character spans (special tokens (0, 0)).
        word_ids: per window, int64 word index of each token in its text (-1 for special tokens).
        sample: window → index of its text in the batch.
        first: window → position in its text's token sequence of its first text token.
        prefix: special tokens before the text in a window ([CLS]: 1; GPT-2: 0).
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    text_mask: list[np.ndarray]
    offsets: list[np.ndarray]
    word_ids: list[np.ndarray]
    sample: np.ndarray
    first: np.ndarray
    prefix: int

    def __len__(self) -> int:
        return len(self.input_ids)


def default_stride(tokenizer: Any, max_length: int) -> int:
    """128 tokens of overlap, or half a window's text tokens when windows are small.

    >>> class T:
    ...     def num_special_tokens_to_add(self, pair=False):
    ...         return 2
    >>> default_stride(T(), 512), default_stride(T(), 34)
    (128, 16)
    """
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    return max(0, min(128, room // 2))


def token_windows(tokenizer: Any, texts: Sequence[str], max_length: int, stride: int) -> TokenWindows:
    """Encode texts into windows of at most `max_length` tokens; consecutive windows of a text share
    `stride` tokens. With room for 4 text tokens per window and stride 2, a 7-token text gives

        [CLS] t0 t1 t2 t3 [SEP]   first=0
        [CLS] t2 t3 t4 t5 [SEP]   first=2
        [CLS] t4 t5 t6 [SEP]      first=4

    (the tokenizer starts window k at token k * (room - stride)).
    """
    check_window(tokenizer, max_length, stride)
    batch = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    with_types = uses_token_type_ids(tokenizer)
    input_ids, types, masks, offsets, words = [], [], [], [], []
    for enc in batch.encodings:
        input_ids.append(np.asarray(enc.ids, dtype=np.int64))
        if with_types:
            types.append(np.asarray(enc.type_ids, dtype=np.int64))
        masks.append(np.asarray([s is not None for s in enc.sequence_ids], dtype=bool))
        offsets.append(np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2))
        words.append(np.asarray([-1 if w is None else w for w in enc.word_ids], dtype=np.int64))
    sample = np.asarray(batch["overflow_to_sample_mapping"], dtype=np.int64)
    counts = np.asarray([int(m.sum()) for m in masks], dtype=np.int64)
    first = np.zeros(len(masks), dtype=np.int64)
    for w in range(1, len(masks)):
        if sample[w] == sample[w - 1]:
            first[w] = first[w - 1] + counts[w - 1] - stride
    prefix = int(np.argmax(masks[0])) if len(masks) and masks[0].any() else 0
    return TokenWindows(
        input_ids=input_ids,
        token_type_ids=types if with_types else None,
        text_mask=masks,
        offsets=offsets,
        word_ids=words,
        sample=sample,
        first=first,
        prefix=prefix,
    )


def max_context_score(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every text token of every window (windows of `counts` text tokens), its local position and how
    well the window centres it: min(tokens on its left, tokens on its right) + 0.01 * window size.

    Tokens near a window's edge see little context on one side; in the overlap of two windows, the window
    where the token is further from both edges wins (ties: the larger window).

    >>> local, score = max_context_score(np.array([4, 3]))
    >>> local.tolist(), score.round(2).tolist()
    ([0, 1, 2, 3, 0, 1, 2], [0.04, 1.04, 1.04, 0.04, 0.03, 1.03, 0.03])
    """
    sizes = np.repeat(counts, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(int(counts.sum())) - starts
    return local, np.minimum(local, sizes - 1 - local) + 0.01 * sizes


def best_window_tokens(windows: TokenWindows) -> dict[str, np.ndarray]:
    """Flatten the text tokens of all windows and keep, for each (text, position), the token of the window
    that centres it best (see `max_context_score`).

    Returns arrays over the kept tokens, in (text, position) order: `window`, `slot` (the token's place in
    its window), `flat` (its row in all windows' tokens concatenated), `doc`, `position`, `offsets` [n, 2],
    `word_ids`.
    """
    counts = np.asarray([int(m.sum()) for m in windows.text_mask], dtype=np.int64)
    local, score = max_context_score(counts)
    window = np.repeat(np.arange(len(counts)), counts)
    doc = windows.sample[window]
    position = windows.first[window] + local
    slot = (
        np.concatenate([np.flatnonzero(m) for m in windows.text_mask])
        if len(counts)
        else np.zeros(0, np.int64)
    )
    order = np.lexsort((-score, position, doc))
    doc, position = doc[order], position[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (doc[1:] != doc[:-1]) | (position[1:] != position[:-1])
    order = order[keep]
    window, slot = window[order], slot[order]
    lengths = np.asarray([len(ids) for ids in windows.input_ids], dtype=np.int64)
    flat = (np.cumsum(lengths) - lengths)[window] + slot
    return {
        "window": window,
        "slot": slot,
        "flat": flat,
        "doc": doc[keep],
        "position": position[keep],
        "offsets": _concat(windows.offsets, (0, 2))[flat],
        "word_ids": _concat(windows.word_ids, (0,))[flat],
    }


def _concat(arrays: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(empty_shape, dtype=np.int64)


# --- decoding -----------------------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, computed as the pipeline does (max-shifted exp, then normalised)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def split_label(label: str) -> tuple[bool, str]:
    """(is a B- label, entity type): "B-PER" → (True, "PER"), "I-PER" → (False, "PER"), "O" → (False, "O").

    A label without a B-/I- prefix is its own type and continues a group, as in the pipeline.
    """
    if label.startswith(("B-", "I-")):
        return label[0] == "B", label[2:]
    return False, label


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
    check_aggregation(aggregation)
    n_docs = len(texts)
    results: list[list[Entity]] = [[] for _ in range(n_docs)]
    n = len(doc)
    if n == 0:
        return results
    doc = np.asarray(doc, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    probs = softmax(logits)
    if index is None:
        index = np.arange(n) - np.searchsorted(doc, doc, side="left")

    # 1. units: tokens ("none", "simple") or words (the others), each with a label id, a score and a span.
    if aggregation in WORD_AGGREGATIONS:
        word_ids = np.asarray(word_ids, dtype=np.int64)
        new = np.ones(n, dtype=bool)
        new[1:] = (doc[1:] != doc[:-1]) | (word_ids[1:] != word_ids[:-1]) | (word_ids[1:] < 0)
        first = np.flatnonzero(new)
        last = np.append(first[1:], n) - 1
        if aggregation == "first":
            unit_probs = probs[first]
        elif aggregation == "average":
            sizes = np.diff(np.append(first, n)).astype(np.float32)
            unit_probs = np.add.reduceat(probs, first, axis=0) / sizes[:, None]
        else:  # max: the token with the highest probability (the first of equals) decides
            word = np.cumsum(new) - 1
            best = np.lexsort((np.arange(n), -probs.max(axis=1), word))
            unit_probs = probs[best[first]]
        unit_label = unit_probs.argmax(axis=1)
        unit_score = unit_probs[np.arange(len(first)), unit_label]
        unit_doc, unit_start, unit_end = doc[first], offsets[first, 0], offsets[last, 1]
    else:
        unit_label = probs.argmax(axis=1)
        unit_score = probs[np.arange(n), unit_label]
        unit_doc, unit_start, unit_end = doc, offsets[:, 0], offsets[:, 1]

    labels = [id2label[i] for i in range(len(id2label))]
    if aggregation == "none":
        keep = np.flatnonzero(~np.isin(np.asarray(labels, dtype=object)[unit_label], list(ignore_labels)))
        for u in keep:
            d = int(unit_doc[u])
            entity = _entity(texts[d], labels[unit_label[u]], unit_score[u], unit_start[u], unit_end[u])
            if entity is not None:
                results[d].append(_with_index(entity, int(index[u])))
        return results

    # 2. groups: a unit starts a new group at a new text, at a B- label, or when its type changes.
    parts = [split_label(label) for label in labels]
    is_b = np.asarray([b for b, _ in parts], dtype=bool)[unit_label]
    types = sorted({t for _, t in parts})
    type_id = np.asarray([types.index(t) for _, t in parts], dtype=np.int64)[unit_label]
    m = len(unit_label)
    new = np.ones(m, dtype=bool)
    new[1:] = (unit_doc[1:] != unit_doc[:-1]) | is_b[1:] | (type_id[1:] != type_id[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:], m) - 1
    sizes = np.diff(np.append(first, m))
    group_score = np.add.reduceat(unit_score.astype(np.float64), first) / sizes
    ignored = np.isin(np.asarray(types, dtype=object)[type_id[first]], list(ignore_labels))
    for g in np.flatnonzero(~ignored):
        d = int(unit_doc[first[g]])
        label = types[type_id[first[g]]]
        entity = _entity(texts[d], label, group_score[g], unit_start[first[g]], unit_end[last[g]])
        if entity is not None:
            results[d].append(entity)
    return results


def _entity(text: str, label: str, score: Any, start: Any, end: Any) -> Entity | None:
    """An entity over `text[start:end]`, its span trimmed of surrounding whitespace and extended over the
    combining marks that follow it; None when nothing but whitespace is left."""
    start, end = int(start), int(end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return None
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):
        end += 1
    return Entity(label=label, score=float(score), word=text[start:end], start=start, end=end)


def _with_index(entity: Entity, index: int) -> Entity:
    return Entity(entity.label, entity.score, entity.word, entity.start, entity.end, index)


# --- the tagger ---------------------------------------------------------------------------------------------


class EntityTagger:
    """Token classification (NER) over texts of any length.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default (English PER/LOC/ORG).
        dtype: "fp32" or "bf16".
        threads: torch threads (default: the usable cores).

    >>> tagger = EntityTagger("path/to/ner-model")  # doctest: +SKIP
    >>> tagger("My name is Sylvain and I work at Hugging Face in Brooklyn.")  # doctest: +SKIP
    [Entity(label='PER', score=0.99, word='Sylvain', start=11, end=18), Entity(label='ORG', ...), ...]
    """

    def __init__(self, model: Model | str | None = None, *, dtype: str = "fp32", threads: int | None = None):
        self.model = model if isinstance(model, Model) else load(model, task="ner")
        tokenizer = self.model.tokenizer
        self.runtime = Runtime(
            self.model.module, dtype=dtype, threads=threads, pad_token_id=tokenizer.pad_token_id or 0
        )
        config = self.model.module.config
        self.id2label = {int(k): v for k, v in config.id2label.items()}
        limits = [512, config.max_position_embeddings]
        if isinstance(tokenizer.model_max_length, int) and tokenizer.model_max_length < 100_000:
            limits.append(tokenizer.model_max_length)
        self.default_max_length = min(limits)
        self.windows_seen = 0

    @property
    def labels(self) -> list[str]:
        return [self.id2label[i] for i in range(len(self.id2label))]

    def __call__(self, text: str, options: NEROptions | None = None) -> list[Entity]:
        """The entities of one text."""
        return self.tag_many([text], options)[0]

    def token_logits(
        self, texts: Sequence[str], max_length: int | None = None, stride: int | None = None
    ) -> dict[str, np.ndarray]:
        """Run the model over the windows of `texts`; per text token (each from its best window):
        `logits` [tokens, labels], `offsets`, `word_ids`, `doc`, `index` (position + leading specials)."""
        for text in texts:
            require_text(text, "text")
        max_length = max_length or self.default_max_length
        positions = self.model.module.config.max_position_embeddings
        if max_length > positions:
            raise InputError(f"max_length {max_length} exceeds the model's {positions} positions")
        tokenizer = self.model.tokenizer
        stride = default_stride(tokenizer, max_length) if stride is None else stride
        windows = token_windows(tokenizer, texts, max_length, stride)
        inputs = {"input_ids": windows.input_ids}
        if windows.token_type_ids is not None:
            inputs["token_type_ids"] = windows.token_type_ids
        out = self.runtime.forward(inputs, outputs=("logits",))["logits"]
        self.windows_seen += len(windows)
        tokens = best_window_tokens(windows)
        n_labels = len(self.id2label)
        logits = np.concatenate(out) if out else np.zeros((0, n_labels), np.float32)
        return {
            "logits": logits[tokens["flat"]],
            "offsets": tokens["offsets"],
            "word_ids": tokens["word_ids"],
            "doc": tokens["doc"],
            "index": tokens["position"] + windows.prefix,
        }

    def tag_many(self, texts: Sequence[str], options: NEROptions | None = None) -> list[list[Entity]]:
        """Entities of many texts at once: all windows of all texts are batched together.

        Args:
            texts: the texts.
            options: how to tag (default `NEROptions()`).
        """
        if isinstance(texts, str):
            raise InputError("texts must be a list of strings, not one string: use tagger(text)")
        if not texts:
            return []
        options = options or NEROptions()
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
