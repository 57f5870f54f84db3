"""The vectorised decoder against a port of the reference pipeline, and its own contracts."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit import QAOptions, decode_answers, qa_windows
from bertkit.tasks.qa_decoding import window_probabilities

from .reference_qa_decode import reference_answers

CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, under "
    "their leader Rollo, agreed to swear fealty to King Charles III of West Francia. "
) * 6


def peaked(windows, positions_start, positions_end, height=12.0):
    """Logits that are 0 everywhere except `height` at the given token positions of each window."""
    starts, ends = [], []
    for w, ids in enumerate(windows.input_ids):
        s, e = np.zeros(len(ids)), np.zeros(len(ids))
        s[positions_start.get(w, [])] = height
        e[positions_end.get(w, [])] = height
        starts.append(s)
        ends.append(e)
    return starts, ends


def dedup(answers):
    seen, out = set(), []
    for a in answers:
        if (a["start"], a["end"]) not in seen:
            seen.add((a["start"], a["end"]))
            out.append(a)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_pipeline_on_random_logits(tok_uncased, seed):
    rng = np.random.default_rng(seed)
    question = "Who gave their name to Normandy?"
    windows = qa_windows(tok_uncased, [question], [CONTEXT], max_length=96, stride=32)
    starts = [rng.normal(0, 3, len(ids)) for ids in windows.input_ids]
    ends = [rng.normal(0, 3, len(ids)) for ids in windows.input_ids]
    top_k, max_len = int(rng.integers(1, 6)), int(rng.integers(1, 20))
    impossible = bool(seed % 2)
    ours = decode_answers(
        starts,
        ends,
        windows,
        [CONTEXT],
        top_k,
        max_len,
        handle_impossible_answer=impossible,
        scoring="pipeline",
    )[0]
    ref = dedup(reference_answers(windows, starts, ends, CONTEXT, top_k, max_len, impossible))
    assert len(windows) > 2
    assert [(a.start, a.end, a.answer) for a in ours[: len(ref)]] == [
        (r["start"], r["end"], r["answer"]) for r in ref
    ]
    np.testing.assert_allclose(
        [a.score for a in ours[: len(ref)]], [r["score"] for r in ref], rtol=1e-5, atol=1e-7
    )


def test_many_documents_at_once_equal_one_by_one(tok_uncased):
    rng = np.random.default_rng(0)
    contexts = [CONTEXT[: 200 + 97 * i] for i in range(5)]
    questions = ["Who?", "Where is Normandy?", "What did they swear?", "Who led them?", "When?"]
    windows = qa_windows(tok_uncased, questions, contexts, max_length=64, stride=16)
    starts = [rng.normal(0, 2, len(ids)) for ids in windows.input_ids]
    ends = [rng.normal(0, 2, len(ids)) for ids in windows.input_ids]
    together = decode_answers(starts, ends, windows, contexts, top_k=3, max_answer_len=10)
    for d in range(5):
        own = qa_windows(tok_uncased, [questions[d]], [contexts[d]], max_length=64, stride=16)
        rows = np.flatnonzero(windows.sample == d)
        alone = decode_answers([starts[r] for r in rows], [ends[r] for r in rows], own, [contexts[d]], 3, 10)
        # the same answers; scores equal up to summation order (numpy's SIMD width differs by CPU)
        assert [(a.answer, a.start, a.end) for a in together[d]] == [
            (a.answer, a.start, a.end) for a in alone[0]
        ]
        assert [a.score for a in together[d]] == pytest.approx([a.score for a in alone[0]], rel=1e-12)


def test_answer_spanning_tokens_and_no_duplicates_across_windows(tok_uncased):
    context = "filler " * 40 + "John lives in New York City." + " filler" * 40
    windows = qa_windows(tok_uncased, ["Where does John live?"], [context], max_length=48, stride=24)
    pos_s, pos_e = {}, {}
    for w, off in enumerate(windows.offsets):
        text = [context[a:b] for a, b in off]
        if "new" in [t.lower() for t in text] and windows.context_mask[w][text.index("New")]:
            pos_s[w] = [text.index("New")]
            pos_e[w] = [text.index("City")]
    assert len(pos_s) >= 2  # the answer is inside several overlapping windows
    starts, ends = peaked(windows, pos_s, pos_e)
    answers = decode_answers(starts, ends, windows, [context], top_k=5, max_answer_len=30)[0]
    assert answers[0].answer == "New York City"
    spans = [(a.start, a.end) for a in answers]
    assert len(spans) == len(set(spans)) == 5


def test_question_tokens_never_answer(tok_uncased):
    context = "John lives in New York City."
    windows = qa_windows(tok_uncased, ["Where does John live?"], [context])
    starts, ends = peaked(windows, {0: [3]}, {0: [3]}, height=50)  # token 3 is "john" in the question
    answers = decode_answers(starts, ends, windows, [context], top_k=3)[0]
    assert answers and all(context[a.start : a.end] == a.answer for a in answers)
    assert all(a.start >= 0 and a.end <= len(context) for a in answers)


def test_max_answer_len_in_tokens(tok_uncased):
    context = "one two three four five six seven eight nine ten"
    windows = qa_windows(tok_uncased, ["Count?"], [context])
    first = int(np.flatnonzero(windows.context_mask[0])[0])
    starts, ends = peaked(windows, {0: [first]}, {0: [first + 9]})
    assert decode_answers(starts, ends, windows, [context], max_answer_len=10)[0][0].answer == context
    short = decode_answers(starts, ends, windows, [context], max_answer_len=4)[0][0]
    assert len(tok_uncased.tokenize(short.answer)) <= 4


def test_korean_answer_is_not_widened_to_eojeol(tok_mbert):
    context = "그는 서울에서 태어났다."
    windows = qa_windows(tok_mbert, ["어디에서 태어났나?"], [context])
    text = [
        context[a:b] if m else None
        for (a, b), m in zip(windows.offsets[0], windows.context_mask[0], strict=False)
    ]
    seoul = text.index("서울")
    assert text[seoul + 1] == "에서"  # one eojeol, two tokens
    starts, ends = peaked(windows, {0: [seoul]}, {0: [seoul]})
    best = decode_answers(starts, ends, windows, [context])[0][0]
    assert (best.answer, best.start, best.end) == ("서울", 3, 5)


def test_no_answer(tok_uncased):
    context = "John lives in New York City."
    windows = qa_windows(tok_uncased, ["What is the capital of Peru?"], [context])
    starts, ends = peaked(windows, {0: [0]}, {0: [0]}, height=8)  # CLS wins
    best = decode_answers(starts, ends, windows, [context], handle_impossible_answer=True)[0][0]
    assert (best.answer, best.start, best.end) == ("", 0, 0)
    assert best.score > 0.5
    # A large enough threshold makes the model answer anyway.
    forced = decode_answers(
        starts, ends, windows, [context], handle_impossible_answer=True, null_threshold=1.0
    )
    assert forced[0][0].answer != ""


def test_odds_scoring_prefers_the_window_that_holds_the_answer(tok_uncased):
    # Window 0 is sure the answer is elsewhere (CLS high) but its best span still has a high probability;
    # window 1 holds the answer. The pipeline's ranking picks window 0's span; odds scoring picks window 1's.
    context = " ".join(f"w{i}" for i in range(120))
    windows = qa_windows(tok_uncased, ["Which?"], [context], max_length=64, stride=16)
    starts = [np.zeros(len(ids)) for ids in windows.input_ids]
    ends = [np.zeros(len(ids)) for ids in windows.input_ids]
    first = [int(np.flatnonzero(m)[0]) for m in windows.context_mask]
    starts[0][[0, first[0]]] = [11.6, 12.0]
    ends[0][[0, first[0]]] = [11.6, 12.0]
    starts[1][first[1] + 20] = ends[1][first[1] + 20] = 4.0
    pipeline = decode_answers(starts, ends, windows, [context], scoring="pipeline")[0][0]
    odds = decode_answers(starts, ends, windows, [context])[0][0]
    assert pipeline.start == windows.offsets[0][first[0]][0]
    assert odds.start == windows.offsets[1][first[1] + 20][0]
    # Scores are shares of the document's spans: best first, adding up to at most 1.
    top = decode_answers(starts, ends, windows, [context], top_k=5)[0]
    assert top[0] == odds and all(a.score >= b.score for a, b in zip(top, top[1:], strict=False))
    assert 0.0 < sum(a.score for a in top) <= 1.0 + 1e-9


def test_odds_do_not_saturate_when_the_model_is_sure_of_an_answer(tok_uncased):
    # p_null of ~1e-26: every span's odds p / (p + p_null) would round to 1.0 and tie.
    context = "John lives in New York City."
    windows = qa_windows(tok_uncased, ["Where?"], [context])
    n = len(windows.input_ids[0])
    starts, ends = np.zeros(n), np.zeros(n)
    starts[0] = ends[0] = -30.0
    first = int(np.flatnonzero(windows.context_mask[0])[0])
    starts[first + 3], ends[first + 5], ends[first + 4] = 5.0, 5.0, 3.0  # "new york city" > "new york"
    top = decode_answers([starts], [ends], windows, [context], top_k=2)[0]
    assert [a.answer for a in top] == ["New York City", "New York"]
    assert top[0].score > 0.5 > top[1].score > 0.0


def test_probabilities_are_per_window_distributions(tok_uncased):
    windows = qa_windows(tok_uncased, ["Who?"], [CONTEXT], max_length=64, stride=16)
    logits = [np.random.default_rng(1).normal(size=len(ids)) for ids in windows.input_ids]
    p = window_probabilities(logits, windows.context_mask, windows.cls_index)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_explain_describes_every_window(tiny_qa):
    context = "Paris is the capital of France. " * 60
    out = tiny_qa.explain("What is the capital?", context, QAOptions(top_k=2, max_length=64, stride=16))
    assert len(out["answers"]) == 2
    assert len(out["windows"]) > 3
    for w in out["windows"]:
        assert len(w["tokens"]) == len(w["segments"]) == len(w["p_start"]) == len(w["offsets"])
        assert w["segments"][0] == "special" and "question" in w["segments"] and "context" in w["segments"]
        assert abs(sum(w["p_start"]) - 1) < 1e-6
        assert all(p < 1e-3 for p, seg in zip(w["p_start"], w["segments"], strict=False) if seg == "question")
    best = out["answers"][0]
    assert (
        best
        == tiny_qa("What is the capital?", context, QAOptions(top_k=2, max_length=64, stride=16))[0].to_dict()
    )
    # Each answer's location: the window and tokens the decoder took it from.
    assert len(out["locations"]) == len(out["answers"])
    for answer, where in zip(out["answers"], out["locations"], strict=True):
        offsets = out["windows"][where["window"]]["offsets"]
        assert offsets[where["token_start"]][0] == answer["start"]
        assert offsets[where["token_end"]][1] == answer["end"]


def test_answers_carry_their_tokens_but_json_and_equality_do_not(tok_uncased):
    context = "filler " * 40 + "John lives in New York City." + " filler" * 40
    windows = qa_windows(tok_uncased, ["Where does John live?"], [context], max_length=48, stride=24)
    starts = [np.zeros(len(ids)) for ids in windows.input_ids]
    ends = [np.zeros(len(ids)) for ids in windows.input_ids]
    text = [[context[a:b] for a, b in off] for off in windows.offsets]
    w = next(w for w, t in enumerate(text) if "New" in t and "City" in t)
    starts[w][text[w].index("New")] = ends[w][text[w].index("City")] = 12.0  # only window w is sure
    best = decode_answers(starts, ends, windows, [context], handle_impossible_answer=True)[0][0]
    assert best.answer == "New York City"
    assert (best.window, best.token_start, best.token_end) == (w, text[w].index("New"), text[w].index("City"))
    assert best.to_dict() == {
        "answer": best.answer,
        "start": best.start,
        "end": best.end,
        "score": best.score,
    }
    assert best == type(best)(best.answer, best.start, best.end, best.score)  # positions do not compare
    assert best.location() == {"window": w, "token_start": best.token_start, "token_end": best.token_end}
    abstain = dict(handle_impossible_answer=True, null_threshold=-2.0)  # the empty answer ranks first
    empty = decode_answers(starts, ends, windows, [context], **abstain)[0][0]
    assert empty.answer == "" and empty.location() is None and empty.window is None


def test_explain_segments_an_unknown_token_by_where_it_comes_from(tiny_qa):
    # bert-base-uncased has no token for "났": an [UNK] in the question and one in the context.
    out = tiny_qa.explain("났 where?", "x 났 y")
    w = out["windows"][0]
    assert list(zip(w["tokens"], w["segments"], strict=True)) == [
        ("[CLS]", "special"),
        ("[UNK]", "question"),
        ("where", "question"),
        ("?", "question"),
        ("[SEP]", "special"),
        ("x", "context"),
        ("[UNK]", "context"),
        ("y", "context"),
        ("[SEP]", "special"),
    ]


def test_a_particle_glued_into_the_last_token_is_cut_off(tok_mbert):
    """mBERT tokenizes 정육점을 as 정 ##육 ##점을: a span ending on ##점을 is answered 정육점 (particles.py),
    and 고양이 (##양이, a whole word) is not cut."""
    from bertkit.tasks.qa_decoding import decode_answers as decode

    for context, gold, whole in [
        ("그는 동네 정육점을 운영했다.", "정육점", "정육점을"),
        ("고양이 한 마리가 의자에 앉았다.", "고양이", "고양이"),
    ]:
        windows = qa_windows(tok_mbert, ["무엇?"], [context], max_length=64, stride=16)
        offsets = windows.offsets[0]
        start = context.index(gold)
        first = next(t for t, (a, b) in enumerate(offsets) if windows.context_mask[0][t] and a == start)
        last = next(
            t for t, (a, b) in enumerate(offsets) if windows.context_mask[0][t] and b == start + len(whole)
        )
        starts, ends = np.zeros(len(offsets)), np.zeros(len(offsets))
        starts[first], ends[last] = 30.0, 30.0
        (answer,) = decode([starts], [ends], windows, [context])[0]
        assert (answer.answer, answer.start, answer.end) == (gold, start, start + len(gold))
        assert answer.token_end == last
