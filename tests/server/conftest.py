"""Fixtures of the HTTP API tests: an app over the tiny QA model, a client that runs its lifespan."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from bertkit.server import ServerConfig, create_app

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
