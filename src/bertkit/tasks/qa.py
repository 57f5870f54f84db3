"""Extractive question answering: question + context of any length → top-k spans of the context.

encode (`encoding.qa_windows`) → run (`runtime.Runtime`) → decode (`qa_decoding.decode_answers`, pure
numpy; how spans of different windows are scored against each other is explained there). `QAOptions`
holds the settings, declared once; the CLI, the server and evaluation build it.
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
        """Answer many questions at once: all windows of all documents are batched together.

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
        windows, start_logits, end_logits = self.logits(questions, contexts, options)
        return decode_with_options(start_logits, end_logits, windows, contexts, options)

    def logits(
        self, questions: list[str], contexts: list[str], options: QAOptions | None = None
    ) -> tuple[QAWindows, list[np.ndarray], list[np.ndarray]]:
        """Encode and run: the windows of all documents (`options.max_length`, `options.stride`) with their
        start and end logits."""
        options = options or QAOptions()
        max_length = self.window_length(options.max_length)
        tokenizer = self.model.tokenizer
        windows = qa_windows(tokenizer, questions, contexts, max_length=max_length, stride=options.stride)
        out = self.run(windows, ("start_logits", "end_logits"))
        return windows, out["start_logits"], out["end_logits"]

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
