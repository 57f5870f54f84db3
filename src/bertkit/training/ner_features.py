"""NER training features: sentences cut into the windows inference uses, with token labels aligned to the
units (words or characters) the data label, and their batches.

Training sees what inference sees: a sentence is encoded as its text (CoNLL tokens joined by spaces), cut
into the same overlapping windows as `EntityTagger` (`encoding.token_windows`), and every token is labelled
in exactly one window, the one that centres it best (`decoding.best_window_tokens`). Labels go to the
first token of each unit (a CoNLL word, a KLUE character); its other tokens get -100 (ignored by the loss)
or, with `label_all_tokens`, the unit's I- label:

    units   Hugging/B-ORG   Face/I-ORG      tokens  [CLS] Hu ##gging Face [SEP]
    labels                                          -100  B-ORG -100 I-ORG -100
    label_all_tokens                                -100  B-ORG I-ORG I-ORG -100

Sources that annotate fewer types than the label set (WikiANN and BTC have no MISC; CoNLL-2003 has it)
mark their sentences `unannotated=("MISC",)`; their O tokens get a *target* beyond the labels that allows
O or any MISC label (`target_sets`), so the loss teaches "not PER/LOC/ORG" there, never "not MISC":

    labels  O B-LOC I-LOC B-MISC I-MISC  (ids 0-4)      WikiANN  German/O   army/O    in/O  Paris/B-LOC
    targets 5 = {O, B-MISC, I-MISC}                                5          5         5     1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..decoding import best_window_tokens
from ..encoding import token_windows
from ..errors import InputError
from ..runtime import pad
from .batches import IGNORE, padded_inputs, rows_hash
from .ner_data import NERSentence

# --- labels -------------------------------------------------------------------------------------------------


def continuation_ids(labels: Sequence[str]) -> np.ndarray:
    """For each label id, the id of the label its unit's later tokens get with `label_all_tokens`:
    B-X → I-X, I-X → I-X, anything else → itself.

    >>> continuation_ids(["O", "B-PER", "I-PER"]).tolist()
    [0, 2, 2]
    """
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray(
        [index.get("I-" + label[2:], i) if label.startswith("B-") else i for i, label in enumerate(labels)],
        dtype=np.int64,
    )


def align_labels(
    word_ids: Sequence[int | None] | np.ndarray,
    word_labels: Sequence[int] | np.ndarray,
    label_all_tokens: bool = False,
    continuation: np.ndarray | None = None,
) -> np.ndarray:
    """Token labels from word labels: the first token of each word gets its word's label, the others
    IGNORE (-100), or with `label_all_tokens` the word's continuation label (`continuation_ids`).

    Args:
        word_ids: per token, its word (the fast tokenizer's `word_ids()`; None or -1 for special tokens).
        word_labels: per word, a label id.
        label_all_tokens: label the later tokens of a word too.
        continuation: label id → continuation label id (needed with label_all_tokens).

    >>> # [CLS] Hu ##gging Face [SEP]; words: Hugging (B-ORG=1), Face (I-ORG=2)
    >>> align_labels([None, 0, 0, 1, None], [1, 2]).tolist()
    [-100, 1, -100, 2, -100]
    >>> align_labels([None, 0, 0, 1, None], [1, 2], True, np.array([0, 2, 2])).tolist()
    [-100, 1, 2, 2, -100]
    """
    ids = np.asarray([-1 if w is None else w for w in word_ids], dtype=np.int64)
    word_labels = np.asarray(word_labels, dtype=np.int64)
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    known = ids >= 0
    first = known.copy()
    first[1:] &= ids[1:] != ids[:-1]
    labels[first] = word_labels[ids[first]]
    if label_all_tokens:
        if continuation is None:
            raise InputError("label_all_tokens needs the continuation label of each label")
        rest = known & ~first
        labels[rest] = continuation[word_labels[ids[rest]]]
    return labels


def unit_of_tokens(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per token (character span), the first unit it overlaps, or -1 (special tokens, tokens in no unit).

    A token that starts with the space before a word (byte-level BPE: "Ġworld") belongs to that word.

    >>> unit_of_tokens(np.array([[0, 0], [0, 2], [2, 7], [7, 12], [0, 0]]), [(0, 7), (8, 12)]).tolist()
    [-1, 0, 0, 1, -1]
    """
    if not len(spans):
        return np.full(len(offsets), -1, dtype=np.int64)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    unit = np.searchsorted(bounds[:, 1], starts, side="right")  # the first unit ending after the start
    inside = (unit < len(bounds)) & (ends > starts)
    clipped = np.minimum(unit, len(bounds) - 1)
    inside &= bounds[clipped, 0] < ends
    return np.where(inside, clipped, -1)


def target_sets(labels: Sequence[str], open_types: Sequence[tuple[str, ...]]) -> np.ndarray:
    """Which labels each target id allows: target i < len(labels) is label i alone; target len(labels) + g
    is O or any B-/I- label of a type in `open_types[g]` (an O of a source that does not annotate them).

    >>> target_sets(["O", "B-MISC", "I-MISC", "B-PER", "I-PER"], [("MISC",)]).astype(int).tolist()[-1]
    [1, 1, 1, 0, 0]
    """
    allowed = np.eye(len(labels), dtype=bool)
    rows = [[label == "O" or label[2:] in types for label in labels] for types in open_types]
    return np.concatenate([allowed, np.asarray(rows, dtype=bool).reshape(-1, len(labels))])


# --- features -----------------------------------------------------------------------------------------------


@dataclass
class NERFeatures:
    """Training windows and their token labels (IGNORE where the loss must not look).

    Args:
        input_ids, token_type_ids: per window, as the model takes them.
        labels: per window, int64 target ids (a label id, or beyond the labels an id of `targets`) or IGNORE.
        sentence: window → index of its sentence.
        targets: target id → which label ids it allows (`target_sets`); None when every target is a label.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    labels: list[np.ndarray]
    sentence: np.ndarray
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(ids) for ids in self.input_ids], dtype=np.int64)


def ner_train_features(
    tokenizer: Any,
    sentences: Sequence[NERSentence],
    labels: Sequence[str],
    max_length: int = 256,
    stride: int = 64,
    label_all_tokens: bool = False,
) -> NERFeatures:
    """Windows of the sentences' texts with token labels (see the module docstring).

    A token is labelled only in the window that centres it best, so overlapping windows never count a
    token twice; windows left without any label are dropped. The O tokens of a sentence with
    `unannotated` types get that open target (`target_sets`).
    """
    label2id = {label: i for i, label in enumerate(labels)}
    open_types = sorted({s.unannotated for s in sentences if s.unannotated})
    open_target = {types: len(labels) + g for g, types in enumerate(open_types)}
    unknown = sorted({t for s in sentences for t in s.tags if t not in label2id})
    if unknown:
        raise InputError(f"the data have labels the model lacks: {', '.join(unknown[:5])}")
    windows = token_windows(tokenizer, [s.text for s in sentences], max_length, stride)
    tokens = best_window_tokens(windows)
    continuation = continuation_ids(labels)
    token_labels = np.full(len(tokens["doc"]), IGNORE, dtype=np.int64)
    bounds = np.searchsorted(tokens["doc"], np.arange(len(sentences) + 1))
    for d, sentence in enumerate(sentences):
        a, b = bounds[d], bounds[d + 1]
        if a == b:
            continue
        units = unit_of_tokens(tokens["offsets"][a:b], sentence.spans)
        unit_labels = np.asarray([label2id[t] for t in sentence.tags], dtype=np.int64)
        token_labels[a:b] = align_labels(units, unit_labels, label_all_tokens, continuation)
        if sentence.unannotated:
            piece = token_labels[a:b]
            piece[piece == label2id.get("O", -1)] = open_target[sentence.unannotated]
    per_window = [np.full(len(ids), IGNORE, dtype=np.int64) for ids in windows.input_ids]
    for w, slot, label in zip(tokens["window"], tokens["slot"], token_labels, strict=True):
        per_window[w][slot] = label
    keep = [w for w, lab in enumerate(per_window) if (lab != IGNORE).any()]
    return NERFeatures(
        input_ids=[windows.input_ids[w] for w in keep],
        token_type_ids=None if windows.token_type_ids is None else [windows.token_type_ids[w] for w in keep],
        labels=[per_window[w] for w in keep],
        sentence=windows.sample[keep],
        targets=target_sets(labels, open_types) if open_types else None,
    )


def fingerprint(features: NERFeatures) -> str:
    """A hash of the training windows and labels: a resumed run must see the same data."""
    pairs = zip(features.input_ids, features.labels, strict=True)
    open_sets = [] if features.targets is None else [features.targets]  # what each open target allows
    return rows_hash([*(array for pair in pairs for array in pair), *open_sets])


# --- batches ---


def collate(features: NERFeatures, rows: np.ndarray, width: int | None, pad_token_id: int) -> dict[str, Any]:
    """Tensors of one batch, padded to its longest window (or to `width`); padding labels are IGNORE."""
    import torch

    batch = padded_inputs(features.input_ids, features.token_type_ids, rows, width, pad_token_id)
    batch["labels"] = pad([features.labels[i] for i in rows], batch["input_ids"].shape[1], IGNORE)
    if features.targets is not None:
        batch["targets"] = features.targets
    return {name: torch.from_numpy(values) for name, values in batch.items()}
