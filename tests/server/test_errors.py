"""Errors as 4xx with one shape (`{"error": "..."}`) naming the problem; the page and the schema."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi.testclient import TestClient

from bertkit.errors import DataError, InputError, ModelLoadError
from bertkit.server import ServerConfig, create_app
from bertkit.server.errors import on_bertkit
from bertkit.server.schemas import MAX_TEXT_CHARS

from .conftest import post

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


def test_library_errors_get_their_own_status(tmp_path):
    """A `BertkitError` answers with its `http_status`: a model that cannot load is 503, not 500."""
    app = create_app(ServerConfig(model=str(tmp_path / "no-such-model"), preload=False))
    with TestClient(app) as c:
        r = post(c, "/v1/qa", {"question": "q", "context": "c"})
    assert r.status_code == ModelLoadError.http_status == 503, r.text
    assert list(r.json()) == ["error"] and "no-such-model" in r.json()["error"]


@pytest.mark.parametrize("exc", [InputError("bad input"), DataError("x.json: file not found")])
def test_input_and_data_errors_are_422(exc):
    response = asyncio.run(on_bertkit(None, exc))  # type: ignore[arg-type]
    assert response.status_code == 422 and json.loads(response.body) == {"error": str(exc)}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_sent_as_another_type_gets_415_saying_what_to_send(client, content_type):
    body = json.dumps({"question": "Who?", "context": "John lives in Paris."})
    headers = {} if content_type is None else {"content-type": content_type}
    for path in ("/v1/qa", "/v1/qa/batch"):
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == 415, r.text
        assert r.json()["error"].startswith("send the body as JSON with Content-Type: application/json (got ")
        assert (content_type or "no Content-Type") in r.json()["error"]
    assert post(client, "/v1/qa", "[1]").json() == {
        "error": "the body must be a JSON object"
    }  # JSON: as before


def test_a_body_that_is_not_utf8_is_malformed_json(client):
    r = client.post("/v1/qa", content=b'{"question": "\xff"}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON: the body is not UTF-8 JSON")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("timeout_s", float("nan"), "timeout_s must be a finite number, got nan"),
        ("read_timeout_s", 0, "read_timeout_s must be >= 0.001"),
        ("batch_window_ms", -1.0, "batch_window_ms must be >= 0.0"),
        ("max_batch", 0, "max_batch must be an integer >= 1, got 0"),
        ("max_body_bytes", 1.5, "max_body_bytes must be an integer >= 1, got 1.5"),
        ("max_queue", -1, "max_queue must be an integer >= 0, got -1"),
        ("preload", "no", "preload must be True or False"),
    ],
)
def test_server_config_is_checked_when_made(field, value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        ServerConfig(**{field: value})
