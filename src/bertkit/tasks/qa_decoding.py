"""QA decoding: the start and end logits of all windows of all documents → each document's top-k answers.

Pure numpy, vectorised over windows (`decode_answers`); each answer keeps where it was found.

In each window, start and end logits are soft-maxed over the context tokens plus CLS (the "no answer"
slot), as in the transformers question-answering pipeline, and a span has probability p_start * p_end.
How spans of *different* windows compare is where the two differ:

- scoring="odds" (default): spans rank by their odds p_span / p_null, p_null = p_start[CLS] * p_end[CLS]
  of their own window: how much the window prefers this span to "no answer here". The per-window softmax
  normaliser cancels, so odds compare across windows. Example: window A is confident in a wrong span
  (p_span 0.6) only because it is also sure the answer is elsewhere (p_null 0.39): odds 1.5; window B
  holds the answer (p_span 0.5, p_null 0.01): odds 50, and B wins. On squad-v1.1-dev paragraphs buried
  among 20 others this recovers most of the F1 that long documents otherwise cost. Ranking is done on log
  odds (a confident model's p_null of 1e-12 would make every odds ratio p/(p+p_null) round to 1.0). The
  reported score is a span's share of the odds of all valid spans of its document (a softmax of the log
  odds): on a one-window document, p_span renormalised over the spans the decoder may return.
- scoring="pipeline": a span scores p_span, exactly as the pipeline ranks (for parity checks).

On a one-window document both rank spans identically. A span seen in two overlapping windows is one
answer (kept with its best score), and a span is never widened to whole words: a Korean answer 서울 inside
the eojeol 서울에서 stays 서울. Where a WordPiece vocabulary glues a Korean particle into the span's last
token (mBERT: 정 ##육 ##점을), the span ends before the particle (정육점), by `particles.particle_end`: the
same rule labels training data and scores `bertkit data check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import require_choice, require_count, require_number
from ..decoding import softmax
from ..encoding import QAWindows
from ..particles import is_syllable, particle_end

# Logit given to tokens that cannot be part of an answer (as the reference pipeline does).
MASKED_LOGIT = -10000.0
SCORINGS = ("odds", "pipeline")


def check_decoding(top_k: int, max_answer_len: int, scoring: str, null_threshold: float = 0.0) -> None:
    """Raise `InputError` for decoding settings that cannot work (the checks of `decode_answers`)."""
    require_choice(scoring, "scoring", SCORINGS)
    require_count(top_k, "top_k")
    require_count(max_answer_len, "max_answer_len")
    require_number(null_threshold, "null_threshold")


@dataclass(frozen=True)
class Answer:
    """One answer: `context[start:end] == answer`, character indices into the caller's context.

    Where the decoder found it travels along, for pictures: `window` (the row of the decoded `QAWindows`,
    the window where the span ranks best) and its first and last tokens in that window, `token_start` and
    `token_end` (inclusive). They are None for the empty answer and for an answer made by hand, and they
    are left out of equality and of `to_dict` (so JSON output is the same with or without them):

        windows.offsets[a.window][a.token_start][0] == a.start
        windows.offsets[a.window][a.token_end][1] == a.end    (>= a.end when a glued Korean particle
                                                              was cut off the last token: ##점을 → 점)
    """

    answer: str
    start: int
    end: int
    score: float
    window: int | None = field(default=None, compare=False, repr=False)
    token_start: int | None = field(default=None, compare=False, repr=False)
    token_end: int | None = field(default=None, compare=False, repr=False)
    rank: float | None = field(default=None, compare=False, repr=False)  # the decoder's log score

    def to_dict(self) -> dict[str, Any]:
        """`{answer, start, end, score}`: the answer as JSON shows it (no token positions)."""
        return {"answer": self.answer, "start": self.start, "end": self.end, "score": self.score}

    def location(self) -> dict[str, int] | None:
        """`{window, token_start, token_end}`, or None when the answer was not decoded from tokens."""
        if self.window is None or self.token_start is None or self.token_end is None:
            return None
        return {"window": self.window, "token_start": self.token_start, "token_end": self.token_end}


def window_probabilities(
    logits: list[np.ndarray], context_mask: list[np.ndarray], cls_index: np.ndarray
) -> np.ndarray:
    """Per-window softmax over context tokens + CLS, as a padded [windows, max_len] float64 array.

    Padding positions get probability 0.
    """
    width = max(len(x) for x in logits)
    out = np.full((len(logits), width), -np.inf)
    for w, (x, allowed) in enumerate(zip(logits, context_mask, strict=True)):
        row = np.where(allowed, x, MASKED_LOGIT)
        row[cls_index[w]] = x[cls_index[w]]
        out[w, : len(x)] = row
    return softmax(out)


def _answer_candidates(windows: QAWindows, width: int) -> tuple[np.ndarray, np.ndarray]:
    """[windows, width, 2] offsets (padded with zeros) and [windows, width] "may be part of an answer":
    the context tokens that cover characters."""
    offsets = np.zeros((len(windows), width, 2), dtype=np.int64)
    candidate = np.zeros((len(windows), width), dtype=bool)
    for w, (off, ctx) in enumerate(zip(windows.offsets, windows.context_mask, strict=True)):
        offsets[w, : len(off)] = off
        candidate[w, : len(off)] = ctx & (off[:, 1] > off[:, 0])
    return offsets, candidate


@dataclass
class _SpanBand:
    """Every allowed span of every window: `ranks[w, t * span + k]` is the log score of the span of window w
    from token t to token `ends[t, k]` = t + k (-inf, and `valid` False, where that span is not allowed)."""

    ranks: np.ndarray  # [windows, width * span]
    valid: np.ndarray  # [windows, width * span]
    ends: np.ndarray  # [width, span]
    span: int


def _span_band(
    p_start: np.ndarray,
    p_end: np.ndarray,
    null: np.ndarray,
    candidate: np.ndarray,
    max_answer_len: int,
    scoring: str,
) -> _SpanBand:
    # scores[w, t, k] = p_start[w, t] * p_end[w, t + k]
    n_win, width = p_start.shape
    span = min(max_answer_len, width)
    ends = np.arange(width)[:, None] + np.arange(span)[None, :]
    inside = ends < width
    ends = np.minimum(ends, width - 1)
    # Spans are ranked in log space: a confident model's odds round to 1.0 in floating point (p_null of
    # 1e-12 against p_span of 0.9 and of 0.01), and would tie; their logarithms do not.
    with np.errstate(divide="ignore"):
        ranks = np.log(p_start)[:, :, None] + np.log(p_end)[:, ends]
        if scoring == "odds":
            ranks = ranks - np.log(null)[:, None, None]
    valid = candidate[:, :, None] & candidate[:, ends] & inside[None]
    ranks = np.where(valid, ranks, -np.inf).reshape(n_win, -1)
    return _SpanBand(ranks, valid.reshape(n_win, -1), ends, span)


@dataclass
class _Spans:
    """Candidate spans, one entry each: window row, first and last token, log score (`_SpanBand.ranks`)."""

    window: np.ndarray
    token_start: np.ndarray
    token_end: np.ndarray
    rank: np.ndarray


def _best_spans(band: _SpanBand, top_k: int) -> _Spans:
    """The best spans of each window; 2*top_k leaves room for spans that repeat in overlapping windows."""
    keep = min(2 * top_k, band.ranks.shape[1])
    best = np.argpartition(-band.ranks, keep - 1, axis=1)[:, :keep]
    ranks = np.take_along_axis(band.ranks, best, axis=1).ravel()
    ok = np.take_along_axis(band.valid, best, axis=1).ravel()
    window = np.repeat(np.arange(len(band.ranks)), keep)
    start = best.ravel() // band.span
    end = band.ends[start, best.ravel() % band.span]
    return _Spans(window[ok], start[ok], end[ok], ranks[ok])


def _odds_shares(band: _SpanBand, spans: _Spans, sample: np.ndarray, n_docs: int) -> np.ndarray:
    """Each span's share of its document's spans, weighed by odds (a softmax of the log odds over every
    valid span of every window of the document)."""
    top = np.where(band.valid.any(axis=1), band.ranks.max(axis=1), 0.0)
    with np.errstate(divide="ignore"):
        window_mass = np.log(np.exp(band.ranks - top[:, None]).sum(axis=1)) + top
    doc_mass = np.full(n_docs, -np.inf)
    np.logaddexp.at(doc_mass, sample, window_mass)
    return np.exp(spans.rank - doc_mass[sample[spans.window]])


def _particle_ends(
    contexts: list[str],
    doc: np.ndarray,
    char_start: np.ndarray,
    char_end: np.ndarray,
    token_start: np.ndarray,
) -> np.ndarray:
    """`char_end` of each span, moved before a Korean particle glued inside its last token (which starts
    at `token_start`); spans that do not end on a Hangul syllable are left as they are."""
    ends = char_end.copy()
    for i in range(len(ends)):
        text, end = contexts[int(doc[i])], int(ends[i])
        if end > 0 and is_syllable(text[end - 1]):
            ends[i] = particle_end(text, int(char_start[i]), int(token_start[i]), end)
    return ends


def _top_per_document(
    doc: np.ndarray, char_start: np.ndarray, char_end: np.ndarray, rank: np.ndarray, top_k: int
) -> np.ndarray:
    """Indices of each document's top_k spans, by document then best first; a (document, start, end)
    span seen in several windows counts once, where it ranks best."""
    order = np.lexsort((-rank, doc))
    key = np.stack([doc, char_start, char_end], axis=1)[order]
    _, first = np.unique(key, axis=0, return_index=True)
    order = order[np.sort(first)]
    doc_sorted = doc[order]
    position = np.arange(len(order)) - np.searchsorted(doc_sorted, doc_sorted, side="left")
    return order[position < top_k]


def empty_answer_scores(
    null: np.ndarray, sample: np.ndarray, best_odds: np.ndarray, scoring: str
) -> np.ndarray:
    """Per document, the empty answer's score: with odds, as likely as the best span is not; else the
    lowest null score p_start[CLS] * p_end[CLS] of its windows, as the pipeline."""
    if scoring == "odds":
        return 1.0 - best_odds
    doc_null = np.full(len(best_odds), np.inf)
    np.minimum.at(doc_null, sample, null)
    return doc_null


def with_empty_answer(
    answers: list[Answer], null_score: float, null_threshold: float, top_k: int
) -> list[Answer]:
    """The top_k of the answers and the empty answer, which ranks as if it scored null_score - null_threshold."""
    empty = Answer("", 0, 0, null_score)
    ranked = answers + [empty]
    ranked.sort(key=lambda a: a.score - (null_threshold if a is empty else 0.0), reverse=True)
    return ranked[:top_k]


def decode_answers(
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    windows: QAWindows,
    contexts: list[str],
    top_k: int = 1,
    max_answer_len: int = 30,
    handle_impossible_answer: bool = False,
    null_threshold: float = 0.0,
    scoring: str = "odds",
) -> list[list[Answer]]:
    """Turn the logits of all windows of all documents into each document's top-k answers.

    Vectorised over windows: for every start token t the candidate ends are t .. t+max_answer_len-1, a
    [windows, length, max_answer_len] band of scores instead of a full length x length matrix.

    Args:
        start_logits, end_logits: per window, one logit per token.
        windows: the windows the logits belong to (offsets, context mask, CLS position, document).
        contexts: the documents' contexts, indexed by `windows.sample`.
        top_k: answers per document (fewer when the context has fewer distinct spans).
        max_answer_len: longest answer, in tokens.
        handle_impossible_answer: also offer the empty answer, scored by the null score.
        null_threshold: the empty answer ranks as if its score were `null score - null_threshold`;
            raise it to answer more often, lower it to abstain more often.
        scoring: "odds" (spans against their window's null; comparable across windows) or "pipeline"
            (per-window probability, as the transformers pipeline); see the module docstring.
    """
    check_decoding(top_k, max_answer_len, scoring, null_threshold)
    n_docs = len(contexts)
    if len(windows) == 0:
        return [[] for _ in range(n_docs)]
    p_start = window_probabilities(start_logits, windows.context_mask, windows.cls_index)
    p_end = window_probabilities(end_logits, windows.context_mask, windows.cls_index)
    rows = np.arange(len(windows))
    null = p_start[rows, windows.cls_index] * p_end[rows, windows.cls_index]
    offsets, candidate = _answer_candidates(windows, p_start.shape[1])
    band = _span_band(p_start, p_end, null, candidate, max_answer_len, scoring)
    spans = _best_spans(band, top_k)
    # Reported: with odds, each span's share of its document's spans; else p_span, as the pipeline.
    scores = _odds_shares(band, spans, windows.sample, n_docs) if scoring == "odds" else np.exp(spans.rank)
    doc = windows.sample[spans.window]
    char_start = offsets[spans.window, spans.token_start, 0]
    char_end = offsets[spans.window, spans.token_end, 1]
    char_end = _particle_ends(contexts, doc, char_start, char_end, offsets[spans.window, spans.token_end, 0])
    answers: list[list[Answer]] = [[] for _ in range(n_docs)]
    best_odds = np.zeros(n_docs)  # the best span's odds against its window's null, per document
    for i in _top_per_document(doc, char_start, char_end, spans.rank, top_k):
        d, s, e = int(doc[i]), int(char_start[i]), int(char_end[i])
        if not answers[d]:
            best_odds[d] = 0.5 * (1.0 + np.tanh(spans.rank[i] / 2))  # sigmoid, without overflow
        where = int(spans.window[i]), int(spans.token_start[i]), int(spans.token_end[i])
        answers[d].append(Answer(contexts[d][s:e], s, e, float(scores[i]), *where, float(spans.rank[i])))
    if handle_impossible_answer:
        doc_null = empty_answer_scores(null, windows.sample, best_odds, scoring)
        answers = [
            with_empty_answer(a, float(doc_null[d]), null_threshold, top_k) for d, a in enumerate(answers)
        ]
    return answers
