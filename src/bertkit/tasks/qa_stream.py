"""The windows of many (question, context) pairs, a chunk at a time, in memory bounded by the chunk.

`encoding.qa_windows` tokenizes each context whole: a 5 MB context costs ~0.7 GB in the tokenizer alone,
and all its windows are held at once. `WindowStream` hands out windows a few at a time instead. Contexts of
up to `LONG_CONTEXT_CHARS` characters are windowed together by `qa_windows`, as before (a group of them at
a time). A longer context is tokenized `LONG_CONTEXT_CHARS` characters at a time, each piece cut where a
whitespace run begins, and its windows are laid out from those tokens exactly as the tokenizer lays them out
(`long_context_windows`): the same ids, type ids, offsets and context mask as `qa_windows` gives.

    context tokens t0 .. t9, room for 4 context tokens per window, stride 1 (so each window starts 3 on):
        [CLS] q [SEP] t0 t1 t2 t3 [SEP]
        [CLS] q [SEP] t3 t4 t5 t6 [SEP]
        [CLS] q [SEP] t6 t7 t8 t9 [SEP]      the last window is the first to reach the last token

A cut at a whitespace run leaves every token as it was for tokenizers that split words at whitespace (the
BERT family; byte-level BPE and SentencePiece keep the space with the next word, also unchanged). A run of
more than half a piece without whitespace is cut after a punctuation mark or symbol, or else anywhere:
only such a run may tokenize differently there (BERT makes [UNK] of any word over 100 characters anyway).
"""

from __future__ import annotations

import dataclasses
import itertools
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import require_text
from ..encoding import QAWindows, check_window, qa_windows, token_count

# Contexts longer than this are tokenized in pieces of this many characters; shorter ones are windowed
# together by `qa_windows`, up to this many characters at a time.
LONG_CONTEXT_CHARS = 100_000
WHITESPACE = " \n\t\r"


def piece_end(text: str, start: int, size: int) -> int:
    """Where the piece of `text` from `start` ends: at most `size` characters on, at the start of a
    whitespace run in the piece's second half, else after a punctuation mark or symbol, else at the limit.

    >>> text = "one two  three four"
    >>> piece_end(text, 0, 12), text[:piece_end(text, 0, 12)]
    (7, 'one two')
    >>> piece_end("abcde,fghij", 0, 8), piece_end("abcdefghij", 0, 8), piece_end("abc", 0, 8)
    (6, 8, 3)
    """
    end = start + size
    if end >= len(text):
        return len(text)
    low = start + max(1, size // 2)
    cut = max(text.rfind(space, low, end) for space in WHITESPACE)
    if cut >= low:
        while cut > low and text[cut - 1].isspace():
            cut -= 1
        return cut
    for cut in range(end, low, -1):
        if unicodedata.category(text[cut - 1])[0] in "PS" and not unicodedata.combining(text[cut]):
            return cut
    while end > low and unicodedata.combining(text[end]):  # a mark stays with its letter
        end -= 1
    return end


def context_tokens(tokenizer: Any, context: str, piece_chars: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The context's tokens (no special tokens), as (ids, offsets into `context`) a piece at a time."""
    start = 0
    while start < len(context):
        end = piece_end(context, start, piece_chars)
        encoded = tokenizer(
            context[start:end],
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        if len(ids):
            yield ids, np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2) + start
        start = end


@dataclass
class WindowLayout:
    """What a window holds around its context tokens, read off the tokenizer's own pair encoding: the
    tokens before them (`before`: e.g. [CLS] question [SEP]) and after them (`after`: [SEP]).

    Args:
        window: one window of `qa_windows` (row 0 of it) whose context tokens are one run.
    """

    window: QAWindows
    start: int  # the window's first context token
    stop: int  # one past its last

    @classmethod
    def probe(
        cls, tokenizer: Any, question: str, text: str, max_length: int, stride: int
    ) -> WindowLayout | None:
        """The layout of `question` windows, from those of a short `text`; None when that text gives no
        context token or more than one window."""
        window = qa_windows(tokenizer, [question], [text], max_length=max_length, stride=stride)
        inside = np.flatnonzero(window.context_mask[0]) if len(window) == 1 else np.zeros(0, np.int64)
        if not len(inside) or inside[-1] - inside[0] + 1 != len(inside):
            return None
        return cls(window, int(inside[0]), int(inside[-1]) + 1)

    def room(self, max_length: int) -> int:
        """Context tokens per window of `max_length` tokens: what the tokens around them leave."""
        return max_length - (len(self.window.input_ids[0]) - (self.stop - self.start))

    def around(self, name: str) -> tuple[Any, Any]:
        """The parts of the probe window's `name` array before and after its context tokens."""
        values = getattr(self.window, name)[0]
        return values[: self.start], values[self.stop :]

    def windows(self, tokens: list[tuple[np.ndarray, np.ndarray]], doc: int, cls_id: int | None) -> QAWindows:
        """Windows of document `doc` with these context tokens (ids, offsets), one window each."""
        ids_before, ids_after = self.around("input_ids")
        offsets_before, offsets_after = self.around("offsets")
        input_ids, offsets, masks, types = [], [], [], []
        for ids, offs in tokens:
            input_ids.append(np.concatenate([ids_before, ids, ids_after]))
            offsets.append(np.concatenate([offsets_before, offs, offsets_after]))
            masks.append(np.repeat([False, True, False], [len(ids_before), len(ids), len(ids_after)]))
        if self.window.token_type_ids is not None:
            types_before, types_after = self.around("token_type_ids")
            context_type = self.window.token_type_ids[0][self.start]
            types = [
                np.concatenate([types_before, np.full(len(i), context_type), types_after]) for i, _ in tokens
            ]
        return QAWindows(
            input_ids=input_ids,
            token_type_ids=types if self.window.token_type_ids is not None else None,
            offsets=offsets,
            context_mask=masks,
            cls_index=np.asarray([_cls_index(ids, cls_id) for ids in input_ids], dtype=np.int64),
            sample=np.full(len(input_ids), doc, dtype=np.int64),
        )


def _cls_index(ids: np.ndarray, cls_id: int | None) -> int:
    """The first CLS position (as `qa_windows` finds it), or 0."""
    hits = np.flatnonzero(ids == cls_id) if cls_id is not None else np.zeros(0, np.int64)
    return int(hits[0]) if len(hits) else 0


def long_context_windows(
    tokenizer: Any,
    question: str,
    context: str,
    doc: int,
    max_length: int,
    stride: int,
    *,
    block_windows: int = 64,
    piece_chars: int = LONG_CONTEXT_CHARS,
) -> Iterator[QAWindows]:
    """The windows of one long context (document `doc`), `block_windows` at a time, tokenized a piece at a
    time: equal to `qa_windows(tokenizer, [question], [context], max_length, stride)` (sample `doc`).

    Args:
        question, context: checked already (`WindowStream`).
        doc: the document's index, put in `sample`.
        block_windows: windows per yielded block.
        piece_chars: characters tokenized at a time.
    """
    pieces = context_tokens(tokenizer, context, piece_chars)
    first = next(pieces, None)
    probe = "a" if first is None else context[first[1][0, 0] : first[1][0, 1]]
    layout = WindowLayout.probe(tokenizer, question, probe if probe.strip() else "a", max_length, stride)
    if layout is None:  # a pair encoding this cannot read: the context in one go, as qa_windows does
        whole = qa_windows(tokenizer, [question], [context], max_length=max_length, stride=stride)
        yield dataclasses.replace(whole, sample=np.full(len(whole), doc, dtype=np.int64))
        return
    room = layout.room(max_length)
    step = room - stride
    ids, offsets = first if first is not None else (np.zeros(0, np.int64), np.zeros((0, 2), np.int64))
    cls_id = tokenizer.cls_token_id
    block: list[tuple[np.ndarray, np.ndarray]] = []
    for more in itertools.chain(pieces, [None]):
        if more is not None:
            ids, offsets = np.concatenate([ids, more[0]]), np.concatenate([offsets, more[1]])
        start = 0
        # While more tokens may follow, only the windows that end before the last token seen are certain.
        while more is None or start + room < len(ids):
            stop = min(start + room, len(ids))
            block.append((ids[start:stop], offsets[start:stop]))
            if len(block) == block_windows:
                yield layout.windows(block, doc, cls_id)
                block = []
            if stop == len(ids):  # the last window reaches the last token
                break
            start += step
        ids, offsets = ids[start:], offsets[start:]
    if block:
        yield layout.windows(block, doc, cls_id)


def slice_windows(windows: QAWindows, start: int, stop: int) -> QAWindows:
    """Windows `start` to `stop` (rows) of `windows`."""
    types = windows.token_type_ids
    return QAWindows(
        input_ids=windows.input_ids[start:stop],
        token_type_ids=None if types is None else types[start:stop],
        offsets=windows.offsets[start:stop],
        context_mask=windows.context_mask[start:stop],
        cls_index=windows.cls_index[start:stop],
        sample=windows.sample[start:stop],
    )


def concat_windows(parts: Sequence[QAWindows]) -> QAWindows:
    """The windows of `parts`, one after the other (each keeps its `sample`)."""
    if len(parts) == 1:
        return parts[0]
    with_types = parts[0].token_type_ids is not None
    return QAWindows(
        input_ids=[ids for p in parts for ids in p.input_ids],
        token_type_ids=[t for p in parts for t in (p.token_type_ids or ())] if with_types else None,
        offsets=[o for p in parts for o in p.offsets],
        context_mask=[m for p in parts for m in p.context_mask],
        cls_index=np.concatenate([p.cls_index for p in parts]),
        sample=np.concatenate([p.sample for p in parts]),
    )


def window_tokens(windows: QAWindows) -> int:
    """Tokens in all the windows (what running them costs)."""
    return sum(len(ids) for ids in windows.input_ids)


class WindowStream:
    """The windows of many (question, context) pairs in document order, taken a chunk at a time.

    Contexts of up to `long_chars` characters are windowed by `qa_windows`, a group of them (at most
    `long_chars` characters) at a time, once the windows before them are taken; longer ones by
    `long_context_windows`. The questions and contexts are checked here, before any work.

    Args:
        tokenizer: a fast tokenizer.
        questions, contexts: parallel sequences of non-blank strings.
        max_length, stride: tokens per window and tokens shared by consecutive windows.
        long_chars: contexts longer than this are tokenized in pieces of this many characters.

    >>> stream = WindowStream(tokenizer, ["Who?"], [long_text], 384, 128)  # doctest: +SKIP
    >>> while (windows := stream.take(max_windows=64)) is not None: ...  # doctest: +SKIP
    """

    def __init__(
        self,
        tokenizer: Any,
        questions: Sequence[str],
        contexts: Sequence[str],
        max_length: int,
        stride: int,
        *,
        long_chars: int = LONG_CONTEXT_CHARS,
    ):
        for question, context in zip(questions, contexts, strict=True):
            require_text(question, "question")
            require_text(context, "context")
        if questions:  # the longest question leaves the least room for the context
            check_window(tokenizer, max_length, stride, max(token_count(tokenizer, list(questions))))
        self.tokenizer, self.questions, self.contexts = tokenizer, questions, contexts
        self.max_length, self.stride, self.long_chars = max_length, stride, long_chars
        self.next_doc = 0  # the first document none of whose windows are made yet
        self.taken = 0  # windows taken so far: the row of the next one
        self._blocks = self._windowed()
        self._block: QAWindows | None = None
        self._used = 0  # windows of `_block` already taken

    def _windowed(self) -> Iterator[QAWindows]:
        group: list[int] = []
        for doc, context in enumerate(self.contexts):
            long = len(context) > self.long_chars
            if group and (long or self._chars(group) + len(context) > self.long_chars):
                yield self._group_windows(group)
                group = []
            if not long:
                group.append(doc)
                continue
            self.next_doc = doc + 1
            yield from long_context_windows(
                self.tokenizer,
                self.questions[doc],
                context,
                doc,
                self.max_length,
                self.stride,
                piece_chars=self.long_chars,
            )
        if group:
            yield self._group_windows(group)

    def _chars(self, docs: list[int]) -> int:
        return sum(len(self.contexts[d]) for d in docs)

    def _group_windows(self, docs: list[int]) -> QAWindows:
        self.next_doc = docs[-1] + 1
        questions = [self.questions[d] for d in docs]
        windows = qa_windows(
            self.tokenizer, questions, [self.contexts[d] for d in docs], self.max_length, self.stride
        )
        return dataclasses.replace(windows, sample=np.asarray(docs, dtype=np.int64)[windows.sample])

    def _current(self) -> QAWindows | None:
        """The block holding the next window (the next block is made when this one is used up), or None."""
        if self._block is None or self._used == len(self._block):
            self._block, self._used = next(self._blocks, None), 0
        return self._block

    @property
    def exhausted(self) -> bool:
        """Every window has been taken."""
        return self._current() is None

    def remaining_tokens(self) -> int:
        """Tokens of the windows not taken yet: counted where they are made, estimated (4 characters a
        token) for the documents not windowed yet."""
        made = (
            0
            if self._block is None
            else window_tokens(slice_windows(self._block, self._used, len(self._block)))
        )
        waiting = range(self.next_doc, len(self.contexts))
        return made + sum(len(self.questions[d]) + len(self.contexts[d]) for d in waiting) // 4

    def take(self, max_windows: int | None = None, max_tokens: int | None = None) -> QAWindows | None:
        """The next windows, at most `max_windows` of them and `max_tokens` tokens (but at least one
        window); None once all are taken."""
        parts: list[QAWindows] = []
        count = tokens = 0
        while (max_windows is None or count < max_windows) and (block := self._current()) is not None:
            stop = self._used
            while stop < len(block) and (max_windows is None or count + stop - self._used < max_windows):
                length = len(block.input_ids[stop])
                if max_tokens is not None and tokens + length > max_tokens and count + stop > self._used:
                    break
                tokens += length
                stop += 1
            if stop > self._used:
                parts.append(slice_windows(block, self._used, stop))
                count += stop - self._used
                self._used = stop
            if stop < len(block):  # a limit was reached inside the block
                break
        if not parts:
            return None
        self.taken += count
        return concat_windows(parts)
