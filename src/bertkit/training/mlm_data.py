"""Masked-LM (+ next-sentence) training rows, built as BERT's `create_pretraining_data.py` builds them, and
BERT's masking of a batch of them.

A document (a line of a text file, a JSONL record, a SQuAD paragraph) is split into sentences; sentences are
packed into rows of at most `max_length` tokens. With `nsp`, each row is a pair `[CLS] A [SEP] B [SEP]`: A
is the first sentences of a chunk, B the rest of the chunk (label 0, IsNext) or, half of the time,
sentences of another document (label 1, NotNext); a chunk of one sentence always gets a random B:

    document   s1 s2 s3 s4                 chunk s1 s2 s3, split after s1
    IsNext     [CLS] s1 [SEP] s2 s3 [SEP]  NotNext  [CLS] s1 [SEP] t7 t8 [SEP]  (s2 s3 go back to the pool)

Masking is BERT's: 15 % of the tokens (or of the words, with whole-word masking) are chosen; of those 80 %
become [MASK], 10 % a random token, 10 % stay; the loss is over the chosen tokens. Rows are kept as int32
token ids.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..runtime import pad
from .batches import IGNORE, padded_inputs, rows_hash

IS_NEXT, NOT_NEXT = 0, 1  # BERT's NSP labels
# A sentence ends at . ! ? (also the full-width and CJK ones) followed by white space.
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)")


# --- rows ---------------------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: cut after . ! ? (and 。！？) followed by white space.

    >>> split_sentences("He came. She left! Did it rain? 비가 왔다. 끝")
    ['He came.', 'She left!', 'Did it rain?', '비가 왔다.', '끝']
    """
    return [s for s in (part.strip() for part in SENTENCE_END.split(text)) if s]


def held_out(texts: Iterable[str], every: int) -> tuple[list[str], list[str]]:
    """(training, held-out) documents: every `every`-th document is held out (0: none).

    >>> held_out(["a", "b", "c", "d"], 2)
    (['a', 'c'], ['b', 'd'])
    """
    if every < 0:
        raise InputError(f"--held-out-every must not be negative, got {every}")
    train: list[str] = []
    held: list[str] = []
    for i, text in enumerate(texts):
        (held if every and i % every == every - 1 else train).append(text)
    return train, held


@dataclass
class PretrainingRows:
    """Model inputs for masked-LM training: one entry per row.

    Args:
        input_ids: token ids with the special tokens.
        token_type_ids: 0 for the first segment, 1 for the second (all 0 without NSP).
        word_starts: True where a token begins a word (whole-word masking groups the rest with it).
        maskable: True where a token may be chosen (not a special token).
        next_labels: per row IS_NEXT / NOT_NEXT (IGNORE without NSP).
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray]
    word_starts: list[np.ndarray]
    maskable: list[np.ndarray]
    next_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(ids) for ids in self.input_ids], dtype=np.int64)


Sentence = tuple[np.ndarray, np.ndarray]  # (token ids, word starts)


def tokenize_documents(tokenizer: Any, texts: Iterable[str], chunk: int = 512) -> Iterator[list[Sentence]]:
    """Each document as its sentences' (token ids, word starts), tokenized `chunk` documents at a time."""
    batch: list[str] = []

    def flush() -> Iterator[list[Sentence]]:
        sentences = [split_sentences(t) for t in batch]
        flat = [s for doc in sentences for s in doc]
        encoded = tokenizer(flat, add_special_tokens=False) if flat else None
        k = 0
        for doc in sentences:
            out: list[Sentence] = []
            for _ in doc:
                ids = np.asarray(encoded["input_ids"][k], dtype=np.int32)  # type: ignore[index]
                words = encoded.word_ids(k)  # type: ignore[union-attr]
                starts = np.asarray([i == 0 or words[i] != words[i - 1] for i in range(len(words))], bool)
                k += 1
                if len(ids):
                    out.append((ids, starts))
            if out:
                yield out

    for text in texts:
        batch.append(text)
        if len(batch) == chunk:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def pretraining_rows(
    tokenizer: Any, texts: Iterable[str], max_length: int = 128, nsp: bool = False, seed: int = 0
) -> PretrainingRows:
    """Token rows of the documents `texts` (see the module docstring for how pairs are made)."""
    documents = list(tokenize_documents(tokenizer, texts))
    if not documents:
        raise InputError("the corpus holds no text")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls is None or sep is None:
        raise InputError(
            "the tokenizer has no CLS/SEP tokens: masked-LM training needs a BERT-style tokenizer"
        )
    rows = PretrainingRows([], [], [], [])
    labels: list[int] = []

    def add(a: list[Sentence], b: list[Sentence] | None, label: int) -> None:
        ids_a, starts_a = join(a)
        parts = [np.asarray([cls], np.int32), ids_a, np.asarray([sep], np.int32)]
        starts = [np.ones(1, bool), starts_a, np.ones(1, bool)]
        types = [np.zeros(len(ids_a) + 2, np.int32)]
        if b is not None:
            ids_b, starts_b = join(b)
            parts += [ids_b, np.asarray([sep], np.int32)]
            starts += [starts_b, np.ones(1, bool)]
            types.append(np.ones(len(ids_b) + 1, np.int32))
        ids = np.concatenate(parts)
        rows.input_ids.append(ids)
        rows.token_type_ids.append(np.concatenate(types))
        rows.word_starts.append(np.concatenate(starts))
        rows.maskable.append((ids != cls) & (ids != sep))
        labels.append(label)

    if not nsp:
        room = max_length - 2
        for doc in documents:
            ids, starts = join(doc)
            for first in range(0, len(ids), room):
                add([(ids[first : first + room], starts[first : first + room])], None, IGNORE)
    else:
        rng = random.Random(seed)
        for d, doc in enumerate(documents):
            for a, b, label in sentence_pairs(doc, d, documents, max_length - 3, rng):
                add(a, b, label)
    rows.next_labels = np.asarray(labels, dtype=np.int64)
    return rows


def join(sentences: list[Sentence]) -> Sentence:
    """One (ids, starts) of several sentences."""
    return np.concatenate([s[0] for s in sentences]), np.concatenate([s[1] for s in sentences])


def sentence_pairs(
    doc: list[Sentence], d: int, documents: list[list[Sentence]], room: int, rng: random.Random
) -> Iterator[tuple[list[Sentence], list[Sentence], int]]:
    """(A, B, label) pairs of one document, as BERT makes them; the pair is cut to `room` tokens."""
    current: list[Sentence] = []
    size, j = 0, 0
    while j < len(doc):
        current.append(doc[j])
        size += len(doc[j][0])
        if j == len(doc) - 1 or size >= room:
            a_end = 1 if len(current) < 2 else rng.randint(1, len(current) - 1)
            a = current[:a_end]
            if (len(current) == 1 or rng.random() < 0.5) and len(documents) > 1:
                label = NOT_NEXT
                other = rng.randrange(len(documents) - 1)
                other_doc = documents[other + (other >= d)]
                start = rng.randrange(len(other_doc))
                want = room - sum(len(s[0]) for s in a)
                b: list[Sentence] = []
                for sentence in other_doc[start:]:
                    b.append(sentence)
                    if sum(len(s[0]) for s in b) >= want:
                        break
                j -= len(current) - a_end  # the unused sentences go back to the pool
            else:
                label, b = IS_NEXT, current[a_end:]
            if b:
                yield cut_pair(a, b, room) + (label,)
            current, size = [], 0
        j += 1


def cut_pair(a: list[Sentence], b: list[Sentence], room: int) -> tuple[list[Sentence], list[Sentence]]:
    """Trim the longer side's end until the pair fits in `room` tokens (BERT's `truncate_seq_pair`).

    >>> s = lambda n: (np.arange(n), np.ones(n, bool))
    >>> [len(join(x)[0]) for x in cut_pair([s(7)], [s(3)], 6)]
    [3, 3]
    """
    ids_a, starts_a = join(a)
    ids_b, starts_b = join(b)
    while len(ids_a) + len(ids_b) > room:
        if len(ids_a) > len(ids_b):
            ids_a, starts_a = ids_a[:-1], starts_a[:-1]
        else:
            ids_b, starts_b = ids_b[:-1], starts_b[:-1]
    return [(ids_a, starts_a)], [(ids_b, starts_b)]


def fingerprint(rows: PretrainingRows) -> str:
    """A hash of the rows: a resumed run must see the same data."""
    pairs = zip(rows.input_ids, rows.token_type_ids, strict=True)
    return rows_hash([*(array for pair in pairs for array in pair), rows.next_labels])


# --- masking ------------------------------------------------------------------------------------------------


def choose_tokens(
    maskable: np.ndarray, word_starts: np.ndarray, prob: float, whole_words: bool, rng: np.random.Generator
) -> np.ndarray:
    """Which tokens of a [rows, width] batch are to be predicted (never a special token or padding).

    With `whole_words`, a word is chosen with probability `prob` and all its tokens with it.

    >>> m = np.array([[False, True, True, True, False]]); w = np.array([[True, True, False, True, True]])
    >>> choose_tokens(m, w, 0.999, True, np.random.default_rng(0)).astype(int).tolist()
    [[0, 1, 1, 1, 0]]
    """
    if not whole_words:
        return (rng.random(maskable.shape) < prob) & maskable
    word = np.cumsum(word_starts, axis=1)  # word number of each token within its row
    chosen_word = rng.random(word.shape) < prob  # one draw per word (at the word's number)
    return np.take_along_axis(chosen_word, word - 1, axis=1) & maskable


def mask_batch(
    ids: np.ndarray,
    chosen: np.ndarray,
    mask_id: int,
    vocab_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels): chosen tokens become [MASK] (80 %), a random token (10 %) or stay (10 %); labels
    are the original ids there and IGNORE elsewhere."""
    labels = np.where(chosen, ids, IGNORE)
    draw = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (draw < 0.8)] = mask_id
    random_tokens = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[random_tokens] = rng.integers(vocab_size, size=int(random_tokens.sum()))
    return inputs, labels


@dataclass
class Masking:
    """How a batch is masked.

    Args:
        mask_prob: fraction of tokens (or words) chosen for prediction.
        whole_words: choose whole words (all their sub-tokens together) instead of tokens.
        mask_id: the tokenizer's [MASK] id.
        vocab_size: the model's vocabulary (random replacements are drawn from it).
    """

    mask_prob: float
    whole_words: bool
    mask_id: int
    vocab_size: int


def collate(rows: PretrainingRows, indices: np.ndarray, seed: int, masking: Masking) -> dict[str, Any]:
    """The tensors of one batch: padded rows, masked inputs, labels (and NSP labels); masks drawn from
    `seed`."""
    import torch

    batch = padded_inputs(rows.input_ids, rows.token_type_ids, indices)
    width = batch["input_ids"].shape[1]
    maskable = pad([rows.maskable[i] for i in indices], width, 0).astype(bool)
    starts = pad([rows.word_starts[i] for i in indices], width, 1).astype(bool)
    rng = np.random.default_rng(seed)
    chosen = choose_tokens(maskable, starts, masking.mask_prob, masking.whole_words, rng)
    if not chosen.any():  # a batch must predict something
        r = int(np.flatnonzero(maskable.any(axis=1))[0]) if maskable.any() else 0
        chosen[r, int(np.flatnonzero(maskable[r])[0]) if maskable[r].any() else 0] = True
    # Padding is never chosen.
    batch["input_ids"], batch["labels"] = mask_batch(
        batch["input_ids"], chosen, masking.mask_id, masking.vocab_size, rng
    )
    batch["next_sentence_label"] = rows.next_labels[indices]
    return {name: torch.from_numpy(values) for name, values in batch.items()}
