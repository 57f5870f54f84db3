"""The HTTP API over the tiny QA model: answers as the library gives them, errors as 4xx with one shape,
micro-batching, timeouts, and no 5xx under schema-driven fuzzing of every endpoint."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from bertkit.encoding import token_table
from bertkit.server import MAX_TEXT_CHARS, ServerConfig, create_app

CONTEXT = "John lives in New York City. He works as a carpenter in Brooklyn. 이순신은 서울에서 태어났다. 🙂 Ünïcödé."
QUESTION = "Where does John live?"


@pytest.fixture(scope="module")
def app(tiny_qa_dir):
    return create_app(ServerConfig(model=str(tiny_qa_dir)))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:  # runs the lifespan: the QA model loads at start
        yield c


def post(client, path: str, body, **kwargs) -> httpx.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, content=data, headers={"content-type": "application/json"}, **kwargs)


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["tasks"]["qa"] and body["tasks"]["tokenize"]
    assert "qa" in body["loaded"]  # loaded at start, not on the first request


def test_qa_answers_as_the_library_does(client, tiny_qa):
    r = post(client, "/v1/qa", {"question": QUESTION, "context": CONTEXT, "top_k": 3, "max_answer_len": 10})
    assert r.status_code == 200
    got = r.json()["answers"]
    expected = [a.to_dict() for a in tiny_qa(QUESTION, CONTEXT, top_k=3, max_answer_len=10)]
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


LONG = "x" * (MAX_TEXT_CHARS + 1)


@pytest.mark.parametrize(
    "path, body, status, says",
    [
        ("/v1/qa", '{"question": "a", ', 400, "malformed JSON"),
        ("/v1/qa", "", 422, "the body is empty"),
        ("/v1/qa", "[1, 2]", 422, "must be a JSON object"),
        ("/v1/qa", '"text"', 422, "must be a JSON object"),
        ("/v1/qa", {"question": "a"}, 422, "context is required"),
        ("/v1/qa", {}, 422, "question is required"),
        ("/v1/qa", {"question": "", "context": "c"}, 422, "question must not be empty"),
        ("/v1/qa", {"question": " \n\t", "context": "c"}, 422, "question must not be empty"),
        ("/v1/qa", {"question": 3, "context": "c"}, 422, "question must be a string"),
        ("/v1/qa", {"question": "a", "context": ["c"]}, 422, "context must be a string"),
        ("/v1/qa", {"question": "a", "context": "c", "top_k": "3"}, 422, "top_k must be an integer"),
        ("/v1/qa", {"question": "a", "context": "c", "top_k": True}, 422, "top_k must be an integer"),
        ("/v1/qa", {"question": "a", "context": "c", "top_k": 1.5}, 422, "top_k must be an integer"),
        ("/v1/qa", {"question": "a", "context": "c", "top_k": 0}, 422, "top_k"),
        ("/v1/qa", {"question": "a", "context": "c", "max_answer_len": -1}, 422, "max_answer_len"),
        ("/v1/qa", {"question": "a", "context": LONG}, 422, "context is too long"),
        ("/v1/qa", {"question": "a", "context": "c", "model": "/etc"}, 422, "model is not a known field"),
        ("/v1/qa", '{"question": "a", "context": "\\ud800"}', 422, "valid Unicode"),
        ("/v1/qa/batch", {"items": []}, 422, "items"),
        ("/v1/qa/batch", {"items": [{"question": "a"}]}, 422, "items.0.context is required"),
        ("/v1/tokenize", {"text": "a", "max_length": 4, "stride": 4}, 422, "stride"),
        ("/v1/tokenize", {"text": None}, 422, "text must be a string"),
        ("/v1/plot/qa?format=gif", {"question": "a", "context": "c"}, 422, "format"),
        ("/v1/plot/qa?kind=x", {"question": "a", "context": "c"}, 422, "kind"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(client, path, body, status, says):
    r = post(client, path, body)
    assert r.status_code == status, r.text
    assert list(r.json()) == ["error"]
    assert says in r.json()["error"]


def test_body_too_large(client):
    r = post(client, "/v1/qa", {"question": "a", "context": "x" * 1_100_000})
    assert r.status_code == 413 and "too large" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 100_000

    r = client.post("/v1/qa", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_unknown_route_and_method(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json() == {"error": "not found: /v1/nothing"}
    r = client.get("/v1/qa")
    assert r.status_code == 405 and "not allowed" in r.json()["error"]


def test_page_and_schema(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in ("/v1/qa", "/v1/qa/batch", "/v1/tokenize", "/v1/plot/qa", "/health"):
        assert path in schema["paths"]
    qa = schema["paths"]["/v1/qa"]["post"]
    assert {"200", "400", "422", "413"} <= set(qa["responses"])


def test_concurrent_requests_are_batched_and_match(app, tiny_qa):
    """Requests that arrive together are answered together, each with its own answers."""
    contexts = [f"Item {i}: John lives in city number {i}. " * (1 + i % 3) for i in range(24)]

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            responses = await asyncio.gather(
                *(c.post("/v1/qa", json={"question": QUESTION, "context": ctx}) for ctx in contexts)
            )
            stats = (await c.get("/health")).json()["qa_batching"]
        assert all(r.status_code == 200 for r in responses)
        return [r.json() for r in responses], stats

    results, stats = asyncio.run(run())
    expected = tiny_qa.answer_many([QUESTION] * len(contexts), contexts)
    for got, want in zip(results, expected, strict=True):
        assert [(a["start"], a["end"]) for a in got["answers"]] == [(a.start, a.end) for a in want]
    assert stats["largest_batch"] > 1


def test_the_event_loop_answers_while_the_model_works(tiny_qa_dir):
    """A slow inference does not block /health; a request past the timeout gets 504."""
    app = create_app(ServerConfig(model=str(tiny_qa_dir), timeout_s=0.6, preload=False))
    models = app.state.models

    class Slow:
        def __init__(self, qa):
            self.qa, self.model = qa, qa.model

        def answer_many(self, *args, **kwargs):
            time.sleep(1.0)
            return self.qa.answer_many(*args, **kwargs)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            await asyncio.get_running_loop().run_in_executor(app.state.worker.model_thread, models.get, "qa")
            models.loaded["qa"] = Slow(models.loaded["qa"])
            slow = asyncio.create_task(c.post("/v1/qa", json={"question": "q", "context": "c"}))
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            health = await c.get("/health")
            assert health.status_code == 200 and time.perf_counter() - started < 0.4
            r = await slow
            assert r.status_code == 504 and "timed out" in r.json()["error"]

    asyncio.run(run())


def test_a_full_queue_gets_503(tiny_qa_dir):
    app = create_app(ServerConfig(model=str(tiny_qa_dir), max_queue=0, preload=False))
    with TestClient(app) as c:
        r = post(c, "/v1/qa", {"question": "q", "context": "c"})
    assert r.status_code == 503 and "busy" in r.json()["error"] and r.headers["retry-after"] == "1"


# --- fuzzing: every operation of the OpenAPI schema, valid and invalid inputs, never a 5xx -----------------

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from bertkit.server import OPTIONAL_TASKS  # noqa: E402

# The schema is read at import (parametrize needs it then); the models are set once the tiny one is built.
FUZZ_CONFIG = ServerConfig(preload=False, timeout_s=120)
FUZZ_APP = create_app(FUZZ_CONFIG)
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", FUZZ_APP)
SCHEMA.config.generation.update(modes=["positive", "negative"])


@pytest.fixture(scope="module", autouse=True)
def fuzz_models(tiny_qa_dir):
    """Every task on the tiny model (heads it lacks start random): fuzzing tests the server, not a model."""
    FUZZ_CONFIG.model = str(tiny_qa_dir)
    FUZZ_CONFIG.task_models = {task: str(tiny_qa_dir) for task in OPTIONAL_TASKS}
    models = FUZZ_APP.state.models
    for task, offered in models.available().items():
        if offered:  # load before fuzzing: a slow first load is not what is being tested
            FUZZ_APP.state.worker.model_thread.submit(models.get, task).result()


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@SCHEMA.exclude(path_regex="^/v1/plot/").parametrize()
@FUZZ
def test_no_server_errors(case):
    case.validate_response(case.call(timeout=60), checks=[not_a_server_error])


@SCHEMA.include(path_regex="^/v1/plot/").parametrize()
@settings(FUZZ, max_examples=5)
def test_no_server_errors_in_figures(case):
    case.validate_response(case.call(timeout=60), checks=[not_a_server_error])


@pytest.fixture(scope="module")
def all_tasks(fuzz_models):
    with TestClient(FUZZ_APP) as c:
        yield c


def offered(client, task: str) -> bool:
    return client.get("/health").json()["tasks"][task]


def test_fill_mask_nsp_and_embed_endpoints(all_tasks):
    c = all_tasks
    if offered(c, "fill-mask"):
        r = post(c, "/v1/fill-mask", {"text": "Paris is the [MASK] of [MASK].", "top_k": 3})
        assert r.status_code == 200 and [len(m) for m in r.json()["masks"]] == [3, 3]
        r = post(c, "/v1/fill-mask", {"text": "no mask here"})
        assert r.status_code == 422 and "[MASK]" in r.json()["error"]
    if offered(c, "nsp"):
        r = post(c, "/v1/nsp", {"first": "I went out.", "second": "It rained."})
        assert r.status_code == 200 and 0 <= r.json()["is_next"] <= 1
        ranked = post(c, "/v1/nsp", {"first": "I went out.", "candidates": ["a b", "c d", "e f"]}).json()[
            "ranked"
        ]
        assert sorted(x["text"] for x in ranked) == ["a b", "c d", "e f"]
        assert [x["is_next"] for x in ranked] == sorted((x["is_next"] for x in ranked), reverse=True)
        r = post(c, "/v1/nsp", {"first": "I went out."})
        assert r.status_code == 422 and "exactly one of second and candidates" in r.json()["error"]
    if offered(c, "embed"):
        body = post(c, "/v1/embed", {"texts": ["a cat", "고양이"], "similarity": True}).json()
        assert len(body["embeddings"]) == 2 and len(body["embeddings"][0]) == body["dim"]
        assert body["similarity"][0][0] == pytest.approx(1.0, abs=1e-4)


def test_ner_and_attention_endpoints_and_figures(all_tasks):
    c = all_tasks
    text = "John lives in 서울 with 🙂 Ünïcödé friends."
    if offered(c, "ner"):
        entities = post(c, "/v1/ner", {"text": text, "aggregation": "simple"}).json()["entities"]
        assert all(text[e["start"] : e["end"]] == e["word"] for e in entities)
        r = post(c, "/v1/plot/ner?format=svg", {"text": text})
        assert r.status_code == 200 and r.content.startswith(b"<?xml")
    if offered(c, "attention"):
        body = post(
            c, "/v1/attention", {"text": "the apple and the Apple", "word": "apple", "layer": -1}
        ).json()
        n = len(body["tokens"])
        assert body["shape"][2:] == [n, n] and body["layer"] == body["shape"][0] - 1 and body["head"] is None
        assert sum(t["weight"] for t in body["attends_to"]) == pytest.approx(1.0, abs=1e-3)
        r = post(c, "/v1/attention", {"text": "the apple", "layer": 99})
        assert r.status_code == 422 and r.json()["error"] == "layer must be less than or equal to 64"
        r = post(c, "/v1/attention", {"text": "the apple", "layer": 7})
        assert r.status_code == 422 and "layer 7 does not exist" in r.json()["error"]
        r = post(
            c, "/v1/plot/attention?format=png", {"text": "the apple and the Apple", "layer": 0, "head": 1}
        )
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
        r = post(c, "/v1/plot/attends-to?format=svg", {"text": "the apple and the Apple", "word": "Apple"})
        assert r.status_code == 200 and r.content.startswith(b"<?xml")
        r = post(c, "/v1/plot/attends-to", {"text": "the apple", "word": "pear"})
        assert r.status_code == 422 and "pear" in r.json()["error"]
