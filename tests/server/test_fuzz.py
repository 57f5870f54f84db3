"""Every endpoint of the OpenAPI schema fuzzed (valid and invalid inputs, never a 5xx), and the endpoints of
the other tasks (fill-mask, nsp, embed, ner, attention) on the tiny model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bertkit.server import ServerConfig, create_app
from bertkit.server.config import TASK_CLASSES

from .conftest import post

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

# The schema is read at import (parametrize needs it then); the models are set once the tiny one is built.
FUZZ_CONFIG = ServerConfig(preload=False, timeout_s=120)
FUZZ_APP = create_app(FUZZ_CONFIG)
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", FUZZ_APP)
SCHEMA.config.generation.update(modes=["positive", "negative"])


@pytest.fixture(scope="module", autouse=True)
def fuzz_models(tiny_qa_dir):
    """Every task on the tiny model (heads it lacks start random): fuzzing tests the server, not a model."""
    FUZZ_CONFIG.model = str(tiny_qa_dir)
    FUZZ_CONFIG.task_models = {task: str(tiny_qa_dir) for task in TASK_CLASSES}
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
        found = post(c, "/v1/ner", {"text": text, "decoding": "argmax"}).json()["entities"]
        assert all(text[e["start"] : e["end"]] == e["word"] for e in found)
        r = post(
            c, "/v1/ner", {"text": text, "entity_types": ["LABEL_1"]}
        )  # this tiny model: LABEL_0, LABEL_1
        assert r.status_code == 422 and "needs a model with an O label" in r.json()["error"]
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
