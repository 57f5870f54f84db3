"""The HTTP API over the tiny QA model: answers, tokens and figures as the library gives them."""

from __future__ import annotations

import pytest

from bertkit.encoding import token_table
from bertkit.tasks.qa import QAOptions

from .conftest import CONTEXT, QUESTION, post


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["tasks"]["qa"] and body["tasks"]["tokenize"]
    assert "qa" in body["loaded"]  # loaded at start, not on the first request
    assert body["models"]["qa"].endswith("(local directory)")  # which model serves each task


def test_every_answer_says_which_model_answered(client, tiny_qa_dir):
    single = post(client, "/v1/qa", {"question": QUESTION, "context": CONTEXT}).json()
    assert single["model"] == f"{tiny_qa_dir} (local directory)"
    batch = post(client, "/v1/qa/batch", {"items": [{"question": QUESTION, "context": CONTEXT}] * 2}).json()
    assert [r["model"] for r in batch["results"]] == [single["model"]] * 2


def test_qa_answers_as_the_library_does(client, tiny_qa):
    r = post(client, "/v1/qa", {"question": QUESTION, "context": CONTEXT, "top_k": 3, "max_answer_len": 10})
    assert r.status_code == 200
    got = r.json()["answers"]
    expected = [a.to_dict() for a in tiny_qa(QUESTION, CONTEXT, QAOptions(top_k=3, max_answer_len=10))]
    assert [(a["answer"], a["start"], a["end"]) for a in got] == [
        (a["answer"], a["start"], a["end"]) for a in expected
    ]
    assert [a["score"] for a in got] == pytest.approx([a["score"] for a in expected], rel=1e-4)
    for a in got:
        assert CONTEXT[a["start"] : a["end"]] == a["answer"]


def test_qa_batch_equals_single_requests(client):
    items = [
        {"question": QUESTION, "context": CONTEXT},
        {"question": "누가 태어났나?", "context": "이순신은 서울에서 태어났다.", "top_k": 2},
        {"question": "What?", "context": "x " * 2000},  # a long context: several windows
    ]
    r = post(client, "/v1/qa/batch", {"items": items})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 3
    for item, result in zip(items, results, strict=True):
        single = post(client, "/v1/qa", item).json()
        assert [a["answer"] for a in result["answers"]] == [a["answer"] for a in single["answers"]]


def test_tokenize_equals_inspect(client, tiny_qa):
    body = {"text": "Héllo 세계", "pair": "and more text", "max_length": 8, "stride": 2}
    r = post(client, "/v1/tokenize", body)
    assert r.status_code == 200
    assert r.json()["windows"] == token_table(tiny_qa.model.tokenizer, "Héllo 세계", "and more text", 8, 2)


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_qa_figure(client, fmt, magic):
    r = post(client, f"/v1/plot/qa?format={fmt}&kind=tokens", {"question": QUESTION, "context": CONTEXT})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml" if fmt == "svg" else "image/png")
    assert r.content.startswith(magic)


def test_tokenize_figure(client):
    r = post(client, "/v1/plot/tokenize?format=svg", {"text": "안녕 world", "pair": "x"})
    assert r.status_code == 200 and r.content.startswith(b"<?xml")
