"""Parity with the transformers 4.57 question-answering pipeline, run from its own virtualenv.

Slow (builds .venv-ref once, ~1 min): the reference is real code, not a port. Same model directory, same
inputs, fp32, top_k=1, max_answer_len=15, align_to_words=False (bertkit never snaps to words).
"""

from __future__ import annotations

import sys

import pytest

from bertkit import QAOptions, QuestionAnswerer
from bertkit.training.qa_loading import load_qa_file

from ..conftest import DATA, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    sys.path.insert(0, str(ROOT / "bench"))
    from reference import run_reference

    return run_reference


def examples(n_short: int, n_long: int) -> list[dict]:
    data = load_qa_file(DATA / "squad-v1.1-dev.json").examples
    short = [
        {"id": e.id, "question": e.question, "context": e.context}
        for e in data[:: len(data) // n_short][:n_short]
    ]
    contexts = sorted({e.context for e in data})
    long = [
        {
            "id": f"long{i}",
            "question": data[i * 37].question,
            "context": "\n\n".join(contexts[i * 7 : i * 7 + 9]),
        }
        for i in range(n_long)
    ]
    return short + long


def test_same_answers_and_scores_as_the_reference_pipeline(reference, tiny_qa_dir):
    inputs = examples(60, 8)
    ref = reference(tiny_qa_dir, inputs, top_k=1, max_answer_len=15, doc_stride=128, max_seq_len=384,
                    handle_impossible_answer=False, align_to_words=False, batch_size=1)["answers"]  # fmt: skip
    qa = QuestionAnswerer(str(tiny_qa_dir))
    ours = qa.answer_many(
        [x["question"] for x in inputs],
        [x["context"] for x in inputs],
        QAOptions(top_k=1, max_answer_len=15, scoring="pipeline"),
    )
    same = 0
    for x, answers in zip(inputs, ours, strict=True):
        mine, theirs = answers[0], ref[x["id"]][0]
        if (mine.start, mine.end) == (theirs["start"], theirs["end"]):
            same += 1
            assert mine.answer == theirs["answer"]
            assert abs(mine.score - theirs["score"]) < 1e-3
        else:
            # The one systematic difference: the pipeline adds up the scores of answers with equal text
            # (windows that overlap find the same span twice). bertkit keeps each span once, with its
            # best window's probability. So the reference's winner must be a span whose summed score
            # beats its own single-window score in bertkit.
            again = qa(
                x["question"], x["context"], QAOptions(top_k=50, max_answer_len=15, scoring="pipeline")
            )
            single = {(a.start, a.end): a.score for a in again}
            assert theirs["score"] > single[(theirs["start"], theirs["end"])] + 1e-9, x["id"]
    assert same / len(inputs) >= 0.9
    assert same >= 60  # every single-window document agrees
