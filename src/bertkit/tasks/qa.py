"""Extractive question answering: question + context of any length → top-k spans of the context.

encode (`encoding.qa_windows`) → run (`runtime.Runtime`) → decode (`qa_decoding.decode_answers`, pure
numpy; how spans of different windows are scored against each other is explained there). `QAOptions`
holds the settings, declared once; the CLI, the server and evaluation build it.

Windows go through the model and the decoder `windows_per_chunk` at a time (`Answering`: windows made by
`qa_stream.WindowStream`, chunks merged by `qa_merge.AnswerMerge` into the answers of decoding them all at
once), so memory stays bounded however long a context is; the server runs chunks of many requests together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import require_count, require_flag, require_texts
from ..encoding import QAWindows, qa_windows
from ..errors import InputError
from .base import Task, with_changes
from .qa_decoding import Answer, check_decoding, decode_answers, window_probabilities
from .qa_merge import AnswerMerge
from .qa_stream import WindowStream


@dataclass(frozen=True)
class QAOptions:
    """How to answer: the settings of `QuestionAnswerer`, declared once (the CLI and the server build this).

    Args:
        top_k: answers per question.
        max_answer_len: longest answer, in tokens.
        max_length: tokens per window (default 384, or less if the model allows less).
        stride: tokens shared by consecutive windows of a long context.
        handle_impossible_answer: also offer the empty answer (SQuAD 2.0 style).
        null_threshold: the empty answer ranks as if its score were `null score - null_threshold`.
        scoring: "odds" or "pipeline" (see the module docstring).

    >>> QAOptions(top_k=3).top_k
    3
    >>> QAOptions(top_kk=3)
    Traceback (most recent call last):
    TypeError: QAOptions.__init__() got an unexpected keyword argument 'top_kk'
    """

    top_k: int = 1
    max_answer_len: int = 30
    max_length: int | None = None
    stride: int = 128
    handle_impossible_answer: bool = False
    null_threshold: float = 0.0
    scoring: str = "odds"

    def __post_init__(self) -> None:
        check_decoding(self.top_k, self.max_answer_len, self.scoring, self.null_threshold)
        if self.max_length is not None:
            require_count(self.max_length, "max_length", minimum=2)
        require_count(self.stride, "stride", minimum=0)
        require_flag(self.handle_impossible_answer, "handle_impossible_answer")


def decode_with_options(
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    windows: QAWindows,
    contexts: list[str],
    options: QAOptions,
) -> list[list[Answer]]:
    """`decode_answers` with the decoding settings of `options`."""
    return decode_answers(
        start_logits,
        end_logits,
        windows,
        contexts,
        top_k=options.top_k,
        max_answer_len=options.max_answer_len,
        handle_impossible_answer=options.handle_impossible_answer,
        null_threshold=options.null_threshold,
        scoring=options.scoring,
    )


class Answering:
    """Questions being answered a chunk of windows at a time: `take` the next windows, run the model on
    them, `add` their logits; `answers()` once `done`. All the windows at once (one chunk) are decoded as
    they are; more chunks are merged by `AnswerMerge` into the same answers.

        answering = qa.answering(questions, contexts)
        while (windows := answering.take(max_windows=128)) is not None:
            answering.add(windows, *qa.run_windows(windows))
        answering.answers()

    Args:
        stream: the windows of the questions.
        contexts: their contexts.
        options: how to answer.
    """

    def __init__(self, stream: WindowStream, contexts: list[str], options: QAOptions):
        self.stream, self.contexts, self.options = stream, contexts, options
        self.merge: AnswerMerge | None = None
        self.decoded: list[list[Answer]] | None = None

    def take(self, max_windows: int | None = None, max_tokens: int | None = None) -> QAWindows | None:
        """The next windows (see `WindowStream.take`), or None when all are taken."""
        return self.stream.take(max_windows, max_tokens)

    def add(self, windows: QAWindows, start_logits: list[np.ndarray], end_logits: list[np.ndarray]) -> None:
        """The logits of the windows `take` gave last."""
        row = self.stream.taken - len(windows)
        if row == 0 and self.stream.exhausted:  # every window at once
            self.decoded = decode_with_options(start_logits, end_logits, windows, self.contexts, self.options)
            return
        if self.merge is None:
            o = self.options
            self.merge = AnswerMerge(
                self.contexts,
                top_k=o.top_k,
                max_answer_len=o.max_answer_len,
                handle_impossible_answer=o.handle_impossible_answer,
                null_threshold=o.null_threshold,
                scoring=o.scoring,
            )
        self.merge.add(windows, start_logits, end_logits, row)

    @property
    def done(self) -> bool:
        """Every window has been taken (and, once added, `answers()` is final)."""
        return self.stream.exhausted

    def remaining_tokens(self) -> int:
        """Tokens still to run (estimated for contexts not tokenized yet)."""
        return self.stream.remaining_tokens()

    def answers(self) -> list[list[Answer]]:
        """Each question's top_k answers."""
        if self.decoded is not None:
            return self.decoded
        return self.merge.answers() if self.merge is not None else [[] for _ in self.contexts]


class QuestionAnswerer(Task):
    """Extractive QA over contexts of any length.

    Args:
        model: a `Model`, a model directory, a Hub id, or None for the embedded default.
        dtype, threads, max_tokens: see `tasks.base.Task`.

    >>> qa = QuestionAnswerer("path/to/squad-model")  # doctest: +SKIP
    >>> qa("Where does John live?", "John lives in New York City.")[0].answer  # doctest: +SKIP
    'New York City'
    """

    task = "qa"
    preferred_max_length = 384
    windows_per_chunk = 128  # windows run and decoded together at most: memory stays bounded

    def __call__(
        self, question: str, context: str, options: QAOptions | None = None, **changes: Any
    ) -> list[Answer]:
        """The top answers for one question about one context: `qa(question, context, top_k=3)`.

        Args:
            options: how to answer (default `QAOptions()`).
            changes: `QAOptions` fields to change (`top_k=3`); a name that is not a field is a TypeError.
        """
        return self.answer_many([question], [context], options, **changes)[0]

    def answer_many(
        self, questions: list[str], contexts: list[str], options: QAOptions | None = None, **changes: Any
    ) -> list[list[Answer]]:
        """Answer many questions at once: the windows of all documents are batched together,
        `windows_per_chunk` at a time (memory stays bounded however long the contexts are).

        Args:
            questions, contexts: parallel lists.
            options: how to answer (default `QAOptions()`).
            changes: `QAOptions` fields to change, as in `__call__`.
        """
        require_texts(questions, "questions", "question")
        require_texts(contexts, "contexts", "context")
        if len(questions) != len(contexts):
            raise InputError(f"got {len(questions)} questions but {len(contexts)} contexts")
        options = with_changes(options, QAOptions, changes)
        if not questions:
            return []
        answering = self.answering(questions, contexts, options)
        while (windows := answering.take(max_windows=self.windows_per_chunk)) is not None:
            answering.add(windows, *self.run_windows(windows))
        return answering.answers()

    def answering(
        self, questions: list[str], contexts: list[str], options: QAOptions | None = None
    ) -> Answering:
        """The questions, to answer a chunk of windows at a time (`Answering`); checked here.

        Args:
            questions, contexts: parallel lists.
            options: how to answer (default `QAOptions()`).
        """
        options = options or QAOptions()
        max_length = self.window_length(options.max_length)
        stream = WindowStream(self.model.tokenizer, questions, contexts, max_length, options.stride)
        return Answering(stream, contexts, options)

    def run_windows(self, windows: QAWindows) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The model's start and end logits of each window."""
        out = self.run(windows, ("start_logits", "end_logits"))
        return out["start_logits"], out["end_logits"]

    def logits(
        self, questions: list[str], contexts: list[str], options: QAOptions | None = None
    ) -> tuple[QAWindows, list[np.ndarray], list[np.ndarray]]:
        """Encode and run: the windows of all documents (`options.max_length`, `options.stride`) with their
        start and end logits, all at once (for pictures and benchmarks: `answer_many` streams them)."""
        options = options or QAOptions()
        max_length = self.window_length(options.max_length)
        tokenizer = self.model.tokenizer
        windows = qa_windows(tokenizer, questions, contexts, max_length=max_length, stride=options.stride)
        return windows, *self.run_windows(windows)

    def explain(
        self, question: str, context: str, options: QAOptions | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Answers plus what the model saw: per window, tokens, segments and start/end probabilities.

        Returns `{"answers": [...], "locations": [...], "windows": [{"tokens", "segments", "offsets",
        "p_start", "p_end"}]}`; segments are "question", "context" or "special". `locations[i]` is where the
        decoder found `answers[i]`: `{"window", "token_start", "token_end"}` (an index into `windows` and
        the answer's first and last token there), None for the empty answer. Pictures (start/end bars,
        token segments with the answer outlined) are drawn from this.
        """
        options = with_changes(options, QAOptions, changes)
        windows, start_logits, end_logits = self.logits([question], [context], options)
        answers = decode_with_options(start_logits, end_logits, windows, [context], options)[0]
        p_start = window_probabilities(start_logits, windows.context_mask, windows.cls_index)
        p_end = window_probabilities(end_logits, windows.context_mask, windows.cls_index)
        tokenizer = self.model.tokenizer
        special = set(tokenizer.all_special_ids)
        described = []
        for w, ids in enumerate(windows.input_ids):
            # An [UNK] standing for text is that text's token: "special" are the added tokens, which
            # cover no characters ([CLS], [SEP], padding).
            segments = [
                "context" if in_context else ("special" if int(i) in special and end == start else "question")
                for i, in_context, (start, end) in zip(
                    ids, windows.context_mask[w], windows.offsets[w].tolist(), strict=True
                )
            ]
            described.append(
                {
                    "tokens": tokenizer.convert_ids_to_tokens(ids.tolist()),
                    "segments": segments,
                    "offsets": windows.offsets[w].tolist(),
                    "p_start": p_start[w, : len(ids)].tolist(),
                    "p_end": p_end[w, : len(ids)].tolist(),
                }
            )
        return {
            "answers": [a.to_dict() for a in answers],
            "locations": [a.location() for a in answers],
            "windows": described,
        }

    def stream(
        self,
        examples: Iterable[tuple[str, str, str]],
        options: QAOptions | None = None,
        *,
        chunk_size: int = 64,
    ) -> Iterator[tuple[str, list[Answer]]]:
        """Answer `(id, question, context)` triples lazily, `chunk_size` documents at a time.

        Memory stays bounded by one chunk's windows however long the input is.
        """
        require_count(chunk_size, "chunk_size")
        chunk: list[tuple[str, str, str]] = []
        for number, example in enumerate(examples, 1):
            if not isinstance(example, (tuple, list)) or len(example) != 3:
                raise InputError(
                    f"example {number} must be an (id, question, context) triple, got {example!r:.60}"
                )
            chunk.append(example)
            if len(chunk) == chunk_size:
                yield from self._answer_chunk(chunk, options)
                chunk = []
        if chunk:
            yield from self._answer_chunk(chunk, options)

    def _answer_chunk(
        self, chunk: list[tuple[str, str, str]], options: QAOptions | None
    ) -> Iterator[tuple[str, list[Answer]]]:
        ids = [c[0] for c in chunk]
        results = self.answer_many([c[1] for c in chunk], [c[2] for c in chunk], options)
        yield from zip(ids, results, strict=True)
