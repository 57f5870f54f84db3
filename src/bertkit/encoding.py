"""Text → windows of token ids, with the bookkeeping that maps every token back to characters.

A long context does not fit in one model input, so it is cut into overlapping windows. With
max_length=12, stride=2 and the question "Who?" (2 tokens + 3 special), each window holds 7 context tokens
and starts 2 tokens before the previous one ended:

    [CLS] who ? [SEP] c0 c1 c2 c3 c4 c5 c6 [SEP]
    [CLS] who ? [SEP] c5 c6 c7 c8 c9 c10 c11 [SEP]

`offsets[t] = (start, end)` are Python string indices into the text the token came from, so
`text[start:end]` is exactly the characters behind token t (special tokens have (0, 0)).

    qa_windows      question/context pairs, only the context cut (QA inference and training)
    token_windows   single texts cut into overlapping windows (NER inference and training)
    text_inputs     texts that each fit in one window (fill-mask, NSP, embeddings, attention)
    token_table     every window of one text with all its bookkeeping, as plain lists (`bertkit tokenize`)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .checks import require_count, require_text
from .errors import InputError

# The keys of one inspected window, in display order (`bertkit tokenize --json` prints exactly these).
INSPECT_KEYS = (
    "tokens",
    "input_ids",
    "token_type_ids",
    "attention_mask",
    "offset_mapping",
    "sequence_ids",
    "word_ids",
)


def uses_token_type_ids(tokenizer: Any) -> bool:
    """Whether the model takes segment ids (BERT does; RoBERTa and DistilBERT do not)."""
    return "token_type_ids" in tokenizer.model_input_names


def token_table(
    tokenizer: Any,
    text: str,
    pair: str | None = None,
    max_length: int | None = None,
    stride: int = 0,
) -> list[dict[str, list]]:
    """Tokenize a text (or a pair) and return every window with all the bookkeeping, as plain lists.

    Without `max_length` the whole input is one window. With it, the input overflows into windows
    that overlap by `stride` tokens; for a pair only the second text is cut.

    >>> from transformers import AutoTokenizer  # doctest: +SKIP
    >>> tok = AutoTokenizer.from_pretrained("../shared/data/tokenizers/bert-base-uncased")  # doctest: +SKIP
    >>> token_table(tok, "Hi there")[0]["tokens"]  # doctest: +SKIP
    ['[CLS]', 'hi', 'there', '[SEP]']
    """
    require_text(text, "text")
    if pair is not None:
        require_text(pair, "pair")
    kwargs: dict[str, Any] = {}
    if max_length is not None:
        check_window(
            tokenizer, max_length, stride, token_count(tokenizer, [text])[0] if pair is not None else None
        )
        kwargs = dict(
            truncation="only_second" if pair is not None else True,
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
        )
    batch = tokenizer(text, pair, return_offsets_mapping=True, **kwargs)
    with_types = uses_token_type_ids(tokenizer)
    windows = []
    for enc in batch.encodings:
        window = {
            "tokens": list(enc.tokens),
            "input_ids": list(enc.ids),
            "token_type_ids": list(enc.type_ids),
            "attention_mask": list(enc.attention_mask),
            "offset_mapping": [list(o) for o in enc.offsets],
            "sequence_ids": list(enc.sequence_ids),
            "word_ids": list(enc.word_ids),
        }
        if not with_types:
            del window["token_type_ids"]
        windows.append(window)
    return windows


class ModelInputs(Protocol):
    """Token ids of windows as a model takes them (what `tasks.base.Task.run` runs)."""

    input_ids: list[np.ndarray]  # per window, int64 token ids, special tokens included (no padding)
    token_type_ids: list[np.ndarray] | None  # per window segment ids, or None when the model takes none


@dataclass
class TextInputs:
    """The `ModelInputs` of texts that each fit in one window (see `text_inputs`)."""

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None


def text_inputs(tokenizer: Any, batch: Any, limit: int | None = None) -> TextInputs:
    """The token ids (and segment ids, when the model takes them) of a tokenizer batch.

    Args:
        tokenizer: the tokenizer that made `batch`.
        batch: its output for a list of texts (or of pairs).
        limit: when given, an `InputError` for a text longer than this many tokens.
    """
    input_ids = [np.asarray(ids, dtype=np.int64) for ids in batch["input_ids"]]
    if limit is not None:
        for ids in input_ids:
            require_fits(ids, limit)
    types = None
    if uses_token_type_ids(tokenizer):
        types = [np.asarray(t, dtype=np.int64) for t in batch["token_type_ids"]]
    return TextInputs(input_ids, types)


def require_fits(input_ids: np.ndarray, limit: int) -> None:
    """An `InputError` when one text's tokens do not fit in one model input of `limit` tokens."""
    if len(input_ids) > limit:
        raise InputError(f"the text is {len(input_ids)} tokens long; the model takes at most {limit}")


def token_count(tokenizer: Any, texts: list[str]) -> list[int]:
    """Tokens of each text without special tokens (never truncated)."""
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]]


def check_window(tokenizer: Any, max_length: int, stride: int, first_tokens: int | None = None) -> None:
    """Validate window settings before the tokenizer sees them (it panics on some of them).

    Args:
        max_length: tokens per window, special tokens included.
        stride: tokens shared by consecutive windows.
        first_tokens: length in tokens of the text that is never cut (the question), if any.
    """
    require_count(max_length, "max_length", minimum=2)
    require_count(stride, "stride", minimum=0)
    if stride >= max_length:
        raise InputError(f"stride ({stride}) must be smaller than max_length ({max_length})")
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 100_000 and max_length > limit:
        raise InputError(f"max_length {max_length} exceeds the model's limit of {limit} tokens")
    if first_tokens is None:
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        room = max_length - specials
        if room < 1:
            raise InputError(
                f"max_length {max_length} leaves no room for text after {specials} special tokens: "
                f"use max_length >= {specials + 1}"
            )
        what = "text"
    else:
        used = first_tokens
        room = max_length - used - tokenizer.num_special_tokens_to_add(pair=True)
        if room < 1:
            raise InputError(
                f"max_length {max_length} is too small for the question ({used} tokens plus special "
                "tokens): use a larger max_length or a shorter question"
            )
        what = "context"
    if stride >= room:
        raise InputError(
            f"stride {stride} is too large: a window of {max_length} tokens holds only {room} {what} "
            f"tokens, so the stride must be below {room}"
        )


@dataclass
class QAWindows:
    """Question/context windows of a batch of documents, ready for the model and for decoding.

    Args:
        input_ids: per window, int64 token ids (windows differ in length: no padding here).
        token_type_ids: per window segment ids, or None when the model takes none.
        offsets: per window, int64 array [length, 2] of character spans in the context.
        context_mask: per window, bool array: True where the token comes from the context.
        cls_index: per window, the position of the CLS token (the "no answer" slot), or 0.
        sample: window → index of its document in the batch.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    offsets: list[np.ndarray]
    context_mask: list[np.ndarray]
    cls_index: np.ndarray
    sample: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


def qa_windows(
    tokenizer: Any, questions: list[str], contexts: list[str], max_length: int = 384, stride: int = 128
) -> QAWindows:
    """Encode question/context pairs into overlapping windows; only the context is ever cut.

    The question comes first for right-padding tokenizers (all BERT-family models), the context first
    otherwise, exactly as the transformers question-answering pipeline lays them out.
    """
    for question, context in zip(questions, contexts, strict=True):
        require_text(question, "question")
        require_text(context, "context")
    if questions:  # the longest question leaves the least room for the context
        check_window(tokenizer, max_length, stride, max(token_count(tokenizer, questions)))
    question_first = tokenizer.padding_side == "right"
    firsts, seconds = (questions, contexts) if question_first else (contexts, questions)
    batch = tokenizer(
        firsts,
        seconds,
        truncation="only_second" if question_first else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    context_id = 1 if question_first else 0
    cls_id = tokenizer.cls_token_id
    with_types = uses_token_type_ids(tokenizer)
    input_ids, types, offsets, masks, cls_index = [], [], [], [], []
    for enc in batch.encodings:
        ids = np.asarray(enc.ids, dtype=np.int64)
        input_ids.append(ids)
        if with_types:
            types.append(np.asarray(enc.type_ids, dtype=np.int64))
        offsets.append(np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2))
        masks.append(np.asarray([s == context_id for s in enc.sequence_ids], dtype=bool))
        hits = np.flatnonzero(ids == cls_id) if cls_id is not None else np.zeros(0, dtype=np.int64)
        cls_index.append(int(hits[0]) if len(hits) else 0)
    return QAWindows(
        input_ids=input_ids,
        token_type_ids=types if with_types else None,
        offsets=offsets,
        context_mask=masks,
        cls_index=np.asarray(cls_index, dtype=np.int64),
        sample=np.asarray(batch["overflow_to_sample_mapping"], dtype=np.int64),
    )


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
