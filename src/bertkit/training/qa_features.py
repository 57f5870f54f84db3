"""QA examples → training windows with start/end token labels, cut by the same windowing as inference.

`qa_train_features` calls `encoding.qa_windows` (the function `QuestionAnswerer` uses), so a model is
trained on exactly the windows it later decodes. Labels come from each window's offsets and context mask:

    context  "The Denver Broncos won."      answer "Denver Broncos" (start 4)
    window   [CLS] who won ? [SEP] the denver broncos won . [SEP]
    offsets    -    -   -  -   -  0-3   4-10    11-18  19-22 22-23  -
    labels   start = "denver" (its span 4-10 holds the answer's first character, 4)
             end   = "broncos" (its span 11-18 holds the answer's last character, 17)

A window that does not hold the whole answer is labelled with its CLS position for both start and end,
the "no answer here" slot that decoding also reads.

`roundtrip_check` runs every gold answer through features → labels → `tasks.qa_decoding.decode_answers` and says
which answers cannot come back exactly, and why (most often: the answer starts or ends inside a token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..decoding import max_context_score, strip_span
from ..encoding import QAWindows, qa_windows
from ..errors import InputError
from ..particles import particle_end
from ..tasks.qa_decoding import decode_answers
from .metrics import exact_match, korquad_normalize, squad_normalize
from .qa_data import QAExample


@dataclass
class QAFeatures:
    """Training windows with their labels.

    Args:
        windows: the kept windows; `windows.sample[w]` is the index of window w's example.
        start_positions, end_positions: per window, the token labels (the window's CLS index when the
            window does not hold the answer).
    """

    windows: QAWindows
    start_positions: np.ndarray
    end_positions: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per window."""
        return np.asarray([len(ids) for ids in self.windows.input_ids], dtype=np.int64)


def select_windows(windows: QAWindows, keep: np.ndarray) -> QAWindows:
    """The windows at the indices `keep`, in that order."""
    keep = np.asarray(keep, dtype=np.int64)
    types = windows.token_type_ids
    return QAWindows(
        input_ids=[windows.input_ids[i] for i in keep],
        token_type_ids=None if types is None else [types[i] for i in keep],
        offsets=[windows.offsets[i] for i in keep],
        context_mask=[windows.context_mask[i] for i in keep],
        cls_index=windows.cls_index[keep],
        sample=windows.sample[keep],
    )


def span_labels(
    offsets: np.ndarray, context_mask: np.ndarray, cls_index: int, start: int, end: int
) -> tuple[int, int]:
    """Start and end token of the characters `context[start:end]` in one window, or (CLS, CLS).

    Args:
        offsets: the window's [length, 2] character spans.
        context_mask: the window's context tokens.
        cls_index: the window's CLS position, the label when the answer is not wholly inside.
        start, end: the answer's characters, already stripped of surrounding whitespace.
    """
    tokens = np.flatnonzero(context_mask & (offsets[:, 1] > offsets[:, 0]))
    if start >= end or len(tokens) == 0:
        return cls_index, cls_index
    # An answer cut by the window edge is "not here". With max_length=12 and stride=2 (as in
    # encoding.py) and the answer "c6 c7", window 1 ends at c6 and window 2 starts at c5:
    #     window 1  [CLS] who ? [SEP] c0 c1 c2 c3 c4 c5 c6 [SEP]      c7 is missing → (CLS, CLS)
    #     window 2  [CLS] who ? [SEP] c5 c6 c7 c8 c9 c10 c11 [SEP]    holds both → (c6, c7)
    # Labelling window 1 with (c6, c6) would teach the model a truncated answer.
    if start < offsets[tokens[0], 0] or end > offsets[tokens[-1], 1]:
        return cls_index, cls_index
    # The first token that ends after the answer's first character, the last that starts before its end.
    # For a gold answer that starts or ends inside a token this widens to the whole token:
    #     bert-base-uncased: "in the 1970s" → in(0-2) the(3-6) 1970s(7-12)
    #     gold "1970" (7-11) → start = end = "1970s": the label covers "1970s", not "1970";
    #     roundtrip_check reports such answers as not on token boundaries.
    # The same happens with Korean particles when a wordpiece joins them to the noun:
    #     mBERT: "1988년 올림픽" → 1988년(0-5) 올림픽(6-9); gold "1988" → "1988년".
    after = tokens[offsets[tokens, 1] > start]
    before = tokens[offsets[tokens, 0] < end]
    if len(after) == 0 or len(before) == 0 or after[0] > before[-1]:
        return cls_index, cls_index  # only characters that no token covers
    return int(after[0]), int(before[-1])


def example_labels(windows: QAWindows, examples: list[QAExample], w: int, answer: int = 0) -> tuple[int, int]:
    """Labels of window `w` for answer number `answer` of its example ((CLS, CLS) when it has none)."""
    example = examples[int(windows.sample[w])]
    cls = int(windows.cls_index[w])
    if example.is_impossible or answer >= len(example.answers):
        return cls, cls
    gold = example.answers[answer]
    start, end = strip_span(example.context, gold.start, gold.start + len(gold.text))
    return span_labels(windows.offsets[w], windows.context_mask[w], cls, start, end)


def example_windows(tokenizer: Any, examples: list[QAExample], max_length: int, stride: int) -> QAWindows:
    """The examples' windows, cut as inference cuts them (`encoding.qa_windows`)."""
    questions, contexts = [e.question for e in examples], [e.context for e in examples]
    return qa_windows(tokenizer, questions, contexts, max_length=max_length, stride=stride)


def qa_train_features(
    tokenizer: Any,
    examples: list[QAExample],
    max_length: int = 384,
    stride: int = 128,
    answerless_ratio: float = 1.0,
    seed: int = 0,
) -> QAFeatures:
    """Cut examples into windows and label each with its answer's first and last token.

    The first gold answer of an example is its training answer (SQuAD train files have one; dev files list
    several, the first being the annotator's). A long context gives several windows: those that hold the
    whole answer are labelled with its tokens, the others with CLS.

    Args:
        tokenizer: a fast tokenizer (offsets are needed).
        examples: the training examples.
        max_length: tokens per window, special tokens included.
        stride: tokens shared by consecutive windows.
        answerless_ratio: fraction of windows that miss their (answerable) example's answer to keep; all
            windows of unanswerable (SQuAD v2.0 `is_impossible`) examples are kept, since they are what
            teaches the model to abstain.
        seed: which answerless windows are kept (the same seed keeps the same ones).
    """
    if not examples:
        raise InputError("no training examples")
    if not 0.0 <= answerless_ratio <= 1.0:
        raise InputError(f"answerless_ratio must be between 0 and 1, got {answerless_ratio}")
    windows = example_windows(tokenizer, examples, max_length, stride)
    labels = np.asarray([example_labels(windows, examples, w) for w in range(len(windows))], dtype=np.int64)
    labels = labels.reshape(-1, 2)
    answered = labels[:, 0] != windows.cls_index
    impossible = np.asarray([examples[s].is_impossible for s in windows.sample], dtype=bool)
    draw = np.random.default_rng(seed).random(len(windows))
    keep = np.flatnonzero(answered | impossible | (draw < answerless_ratio))
    return QAFeatures(
        windows=select_windows(windows, keep),
        start_positions=labels[keep, 0],
        end_positions=labels[keep, 1],
    )


def max_context_window(windows: QAWindows, candidates: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Of `(window, start, end)` labels of one answer, the window where the answer is best centred.

    The "max context" rule of google-research/bert run_squad.py (`decoding.max_context_score`): a span's
    score in a window is min(tokens left of it, tokens right of it) + 0.01 * context tokens in the window.
    With windows of context tokens c0..c6 and c5..c11 and the answer c6:
        window 1: min(6 left, 0 right) + 0.07 = 0.07
        window 2: min(1 left, 5 right) + 0.07 = 1.07  → window 2, where c6 has context on both sides.
    Ties go to the earlier window.
    """

    def score(candidate: tuple[int, int, int]) -> float:
        w, start, end = candidate
        context = np.flatnonzero(windows.context_mask[w])
        return float(max_context_score(start - context[0], context[-1] - end, len(context)))

    return max(candidates, key=score)


def roundtrip_check(
    tokenizer: Any,
    examples: list[QAExample],
    max_length: int = 384,
    stride: int = 128,
    metric: str | None = None,
) -> dict[str, Any]:
    """Check the labels: every gold answer → windows → labels → one-hot logits → `decode_answers` → text.

    Each distinct gold answer of each example is checked (dev files list up to three per question). The
    window where the answer is best centred (`max_context_window`) is decoded, with logits that are high
    at the labels and zero elsewhere, and no limit on the answer length in tokens.

    Args:
        tokenizer: the tokenizer of the model to be trained.
        examples: the examples to check.
        max_length, stride: the windowing, as in training.
        metric: also count answers that come back equal under this metric's normalisation
            ("squad", "squad_v2" or "korquad"): `metric_exact`.

    Returns:
        `{total, exact, token_boundary_total, token_boundary_exact, metric_exact?, differ}`: `total`
        answers, of which `exact` came back character for character; `token_boundary_*` count the answers
        whose first and last characters begin and end tokens (these must all come back exactly);
        `differ` lists `{id, gold, got, reason}` for every answer that did not.
    """
    if not examples:
        raise InputError("no examples to check")
    windows = example_windows(tokenizer, examples, max_length, stride)
    by_example: dict[int, list[int]] = {}
    for w, s in enumerate(windows.sample):
        by_example.setdefault(int(s), []).append(w)
    cases = roundtrip_cases(windows, examples, by_example)
    got = decode_labels(windows, examples, cases)
    return roundtrip_summary(tokenizer, windows, examples, by_example, cases, got, metric)


def roundtrip_summary(
    tokenizer: Any,
    windows: QAWindows,
    examples: list[QAExample],
    by_example: dict[int, list[int]],
    cases: list[Case],
    got: dict[int, str],
    metric: str | None,
) -> dict[str, Any]:
    """`roundtrip_check`'s counts and differences, from its cases and their decoded answers (`got`)."""
    normalize = {"squad": squad_normalize, "squad_v2": squad_normalize, "korquad": korquad_normalize}
    if metric is not None and metric not in normalize:
        raise InputError(f"unknown metric {metric!r}; expected one of {', '.join(normalize)}")
    summary: dict[str, Any] = {"total": 0, "exact": 0, "token_boundary_total": 0, "token_boundary_exact": 0}
    if metric is not None:
        summary["metric_exact"] = 0
    differ = []
    for k, (i, a, label) in enumerate(cases):
        example, gold = examples[i], examples[i].answers[a]
        summary["total"] += 1
        if label is None:
            reason = no_window_reason(windows, by_example[i])
            differ.append({"id": example.id, "gold": gold.text, "got": None, "reason": reason})
            continue
        w, start_token, end_token = label
        end = gold.start + len(gold.text)
        on_boundary = (
            windows.offsets[w][start_token, 0] == gold.start and windows.offsets[w][end_token, 1] == end
        )
        summary["token_boundary_total"] += int(on_boundary)
        if got[k] == gold.text:
            summary["exact"] += 1
            summary["token_boundary_exact"] += int(on_boundary)
        else:
            reason = differ_reason(tokenizer, example.context, gold.start, end, windows, label)
            differ.append({"id": example.id, "gold": gold.text, "got": got[k], "reason": reason})
        if metric is not None:
            summary["metric_exact"] += int(exact_match(got[k], gold.text, normalize[metric]) == 1.0)
    summary["differ"] = differ
    return summary


Case = tuple[int, int, tuple[int, int, int] | None]  # (example, answer, its chosen (window, start, end))


def roundtrip_cases(
    windows: QAWindows, examples: list[QAExample], by_example: dict[int, list[int]]
) -> list[Case]:
    """Each distinct gold answer of each example, with the labels of the window that centres it best
    (None when no window holds the whole answer).

    Args:
        windows: the examples' windows.
        examples: the examples.
        by_example: example index → its windows.
    """
    cases: list[Case] = []
    for i, example in enumerate(examples):
        seen = set()
        for a, gold in enumerate(example.answers):
            if (gold.start, gold.text) in seen:
                continue
            seen.add((gold.start, gold.text))
            labelled = [(w, *example_labels(windows, examples, w, a)) for w in by_example.get(i, [])]
            inside = [c for c in labelled if c[1] != windows.cls_index[c[0]]]
            cases.append((i, a, max_context_window(windows, inside) if inside else None))
    return cases


def decode_labels(windows: QAWindows, examples: list[QAExample], cases: list[Case]) -> dict[int, str]:
    """Case number → the answer `decode_answers` gives for one-hot logits at the case's labels (cases
    without labels are left out)."""
    # Decode the chosen windows in chunks: the decoder's score band is [windows, length, max_answer_len].
    decodable = [(k, label) for k, (_, _, label) in enumerate(cases) if label is not None]
    got: dict[int, str] = {}
    for first in range(0, len(decodable), 256):
        chunk = [k for k, _ in decodable[first : first + 256]]
        labels = [label for _, label in decodable[first : first + 256]]
        picked = select_windows(windows, np.asarray([w for w, _, _ in labels], dtype=np.int64))
        picked.sample = np.arange(len(chunk))
        lengths = [len(ids) for ids in picked.input_ids]
        start_logits = [one_hot(n, start) for n, (_, start, _) in zip(lengths, labels, strict=True)]
        end_logits = [one_hot(n, end) for n, (_, _, end) in zip(lengths, labels, strict=True)]
        contexts = [examples[cases[k][0]].context for k in chunk]
        longest = max(end - start + 1 for _, start, end in labels)
        decoded = decode_answers(start_logits, end_logits, picked, contexts, max_answer_len=longest)
        got.update({k: (a[0].answer if a else "") for k, a in zip(chunk, decoded, strict=True)})
    return got


def one_hot(length: int, position: int, high: float = 30.0) -> np.ndarray:
    """Logits that put (almost) all probability on one token."""
    logits = np.zeros(length, dtype=np.float32)
    logits[position] = high
    return logits


def no_window_reason(windows: QAWindows, window_indices: list[int]) -> str:
    """Why no window was labelled with the answer."""
    room = max(int(windows.context_mask[w].sum()) for w in window_indices)
    return f"no window holds the whole answer (a window holds at most {room} context tokens)"


def differ_reason(
    tokenizer: Any, context: str, start: int, end: int, windows: QAWindows, label: tuple[int, int, int]
) -> str:
    """Why the decoded text is not the gold answer `context[start:end]`, in words, with the tokens."""
    w, start_token, end_token = label
    offsets = windows.offsets[w]
    reasons = []
    stripped = strip_span(context, start, end)
    if stripped != (start, end):
        reasons.append("gold has surrounding whitespace, which no token covers")
    start, end = stripped
    token_start, token_end = int(offsets[start_token, 0]), int(offsets[end_token, 1])
    if token_start < start:
        token = tokenizer.convert_ids_to_tokens(int(windows.input_ids[w][start_token]))
        reasons.append(
            f"gold starts inside token {token!r} (context[{token_start}:{int(offsets[start_token, 1])}]"
            f" = {context[token_start : int(offsets[start_token, 1])]!r})"
        )
    if token_end > end:
        token = tokenizer.convert_ids_to_tokens(int(windows.input_ids[w][end_token]))
        reasons.append(
            f"gold ends inside token {token!r} (context[{int(offsets[end_token, 0])}:{token_end}]"
            f" = {context[int(offsets[end_token, 0]) : token_end]!r})"
        )
    if token_start > start:
        reasons.append(f"gold starts with {context[start:token_start]!r}, which no token covers")
    if token_end < end:
        reasons.append(f"gold ends with {context[token_end:end]!r}, which no token covers")
    decoded_end = particle_end(context, token_start, int(offsets[end_token, 0]), token_end)
    if decoded_end < end:
        reasons.append(
            f"the gold's ending {context[decoded_end:end]!r} was cut as a Korean particle (particles.py)"
        )
    return "; ".join(reasons) or "decoded span differs (unexplained)"
