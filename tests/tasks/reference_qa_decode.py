"""A line-by-line port of the transformers 4.57 QuestionAnsweringPipeline decoding (fast tokenizers,
align_to_words=False), used as the reference for bertkit's vectorised decoder.

Source: transformers/pipelines/question_answering.py (v4.57): decode_spans, select_starts_ends and
the answer assembly of QuestionAnsweringPipeline.postprocess. Apache-2.0.
"""

import numpy as np


def decode_spans(start, end, topk, max_answer_len, undesired_tokens):
    if start.ndim == 1:
        start = start[None]
    if end.ndim == 1:
        end = end[None]
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    scores_flat = candidates.flatten()
    if topk == 1:
        idx_sort = [np.argmax(scores_flat)]
    elif len(scores_flat) < topk:
        idx_sort = np.argsort(-scores_flat)
    else:
        idx = np.argpartition(-scores_flat, topk)[0:topk]
        idx_sort = idx[np.argsort(-scores_flat[idx])]
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    desired_spans = np.isin(starts, undesired_tokens.nonzero()) & np.isin(ends, undesired_tokens.nonzero())
    starts = starts[desired_spans]
    ends = ends[desired_spans]
    scores = candidates[0, starts, ends]
    return starts, ends, scores


def select_starts_ends(
    start, end, p_mask, attention_mask, min_null_score, top_k, handle_impossible_answer, max_answer_len
):
    undesired_tokens = np.abs(np.array(p_mask) - 1)
    if attention_mask is not None:
        undesired_tokens = undesired_tokens & attention_mask
    undesired_tokens_mask = undesired_tokens == 0.0
    start = np.where(undesired_tokens_mask, -10000.0, start)
    end = np.where(undesired_tokens_mask, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, undesired_tokens)
    return starts, ends, scores, min_null_score


def reference_answers(
    windows, start_logits, end_logits, context, top_k, max_answer_len, handle_impossible_answer=False
):
    """Answers for ONE document whose windows are all in `windows` (as the pipeline computes them)."""
    min_null_score = 1000000
    answers = []
    for w in range(len(windows)):
        p_mask = (~windows.context_mask[w]).astype(np.int64)
        p_mask[windows.cls_index[w]] = 0
        attention = np.ones_like(p_mask)[None]
        starts, ends, scores, min_null_score = select_starts_ends(
            start_logits[w][None].astype(np.float32),
            end_logits[w][None].astype(np.float32),
            p_mask[None],
            attention,
            min_null_score,
            top_k,
            handle_impossible_answer,
            max_answer_len,
        )
        for s, e, score in zip(starts, ends, scores, strict=False):
            a, b = windows.offsets[w][s][0], windows.offsets[w][e][1]
            answers.append({"score": float(score), "start": int(a), "end": int(b), "answer": context[a:b]})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
