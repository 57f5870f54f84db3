"""Answers decoded a chunk of windows at a time and merged into what decoding all windows at once gives.

A long document's windows do not all fit in memory together (the decoder's span band alone is
[windows, tokens x max_answer_len] floats), so `AnswerMerge` decodes each chunk with `decode_answers` and
keeps, per document, only its best spans so far and two numbers: the log of the total odds of all its
spans (the normaliser of the "odds" score) and its lowest null score (the empty answer's "pipeline" score).

Each window is decoded as a document of its own, which gives its top_k spans and their exact log scores
(from the window's start/end probabilities, as the decoder ranks them). That is enough: a span among a
document's top_k is among the top_k of the window where it ranks best, or that window would hold top_k
better spans. A window's log mass follows from its best span: the decoder scores that span
share = odds / Σ odds of the window's spans, so log Σ odds = log odds - log share. Example: best log odds
2.0 with share 0.5 → the window's spans total e^2 / 0.5 in odds; a second window whose spans total e^1
makes the document's normaliser log(2e^2 + e^1), and the first span's reported score e^2 / (2e^2 + e^1).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..encoding import QAWindows
from .qa_decoding import (
    Answer,
    decode_answers,
    empty_answer_scores,
    window_probabilities,
    with_empty_answer,
)


@dataclasses.dataclass
class _Found:
    """One candidate span: its log score (the decoder's rank) and the answer, `window` a global row."""

    rank: float
    answer: Answer


class AnswerMerge:
    """The answers of many documents whose windows arrive a chunk at a time (in order).

    Args:
        contexts: the documents' contexts (`windows.sample` indexes them).
        top_k, max_answer_len, handle_impossible_answer, null_threshold, scoring: as `decode_answers`.
    """

    def __init__(
        self,
        contexts: list[str],
        *,
        top_k: int,
        max_answer_len: int,
        handle_impossible_answer: bool,
        null_threshold: float,
        scoring: str,
    ):
        self.contexts = contexts
        self.top_k, self.max_answer_len, self.scoring = top_k, max_answer_len, scoring
        self.handle_impossible_answer, self.null_threshold = handle_impossible_answer, null_threshold
        self.found: list[list[_Found]] = [[] for _ in contexts]
        self.log_mass = np.full(len(contexts), -np.inf)  # log Σ odds of every valid span ("odds")
        self.null = np.full(len(contexts), np.inf)  # the lowest p_start[CLS] * p_end[CLS] of the windows

    def add(
        self, windows: QAWindows, start_logits: list[np.ndarray], end_logits: list[np.ndarray], row: int
    ) -> None:
        """Decode a chunk of windows and keep each document's best spans.

        Args:
            windows: the chunk (`sample` indexes `contexts`).
            start_logits, end_logits: the model's logits of each window of the chunk.
            row: the chunk's first window's row among all windows (answers' `window` counts from there).
        """
        p_start = window_probabilities(start_logits, windows.context_mask, windows.cls_index)
        p_end = window_probabilities(end_logits, windows.context_mask, windows.cls_index)
        rows = np.arange(len(windows))
        null = p_start[rows, windows.cls_index] * p_end[rows, windows.cls_index]
        np.minimum.at(self.null, windows.sample, null)
        own = dataclasses.replace(windows, sample=rows)  # each window a document of its own
        per_window = decode_answers(
            start_logits,
            end_logits,
            own,
            [self.contexts[d] for d in windows.sample],
            top_k=self.top_k,
            max_answer_len=self.max_answer_len,
            scoring=self.scoring,
        )
        window_mass = np.full(len(windows), -np.inf)
        for w, answers in enumerate(per_window):
            doc = int(windows.sample[w])
            ranks = [float(a.rank) for a in answers if a.rank is not None]  # the decoder's log scores
            if self.scoring == "odds" and answers:  # log Σ odds = log odds - log share, from the best span
                window_mass[w] = ranks[0] - np.log(answers[0].score)
            self.found[doc] += [
                _Found(r, dataclasses.replace(a, window=row + w)) for r, a in zip(ranks, answers, strict=True)
            ]
        np.logaddexp.at(self.log_mass, windows.sample, window_mass)
        for doc in np.unique(windows.sample):
            self.found[doc] = self._best(self.found[doc])

    def _best(self, found: list[_Found]) -> list[_Found]:
        """The top_k spans, best first; a span seen more than once counts where it ranks best (the first
        seen among equals, as the decoder keeps the earlier window)."""
        kept: dict[tuple[int, int], _Found] = {}
        for f in sorted(found, key=lambda f: -f.rank):
            kept.setdefault((f.answer.start, f.answer.end), f)
            if len(kept) == self.top_k:
                break
        return list(kept.values())

    def answers(self) -> list[list[Answer]]:
        """Each document's top_k answers, scored as `decode_answers` scores them."""
        best_odds = np.zeros(len(self.contexts))
        answers: list[list[Answer]] = []
        for doc, found in enumerate(self.found):
            if found:
                best_odds[doc] = 0.5 * (1.0 + np.tanh(found[0].rank / 2))  # sigmoid, without overflow
            if self.scoring == "odds":
                scored = [
                    dataclasses.replace(f.answer, score=float(np.exp(f.rank - self.log_mass[doc])))
                    for f in found
                ]
            else:
                scored = [f.answer for f in found]
            answers.append(scored)
        if self.handle_impossible_answer:
            docs = np.arange(len(self.contexts))
            doc_null = empty_answer_scores(self.null, docs, best_odds, self.scoring)
            answers = [
                with_empty_answer(a, float(doc_null[d]), self.null_threshold, self.top_k)
                for d, a in enumerate(answers)
            ]
        return answers
