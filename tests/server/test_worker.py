"""The model thread: micro-batching, a free event loop while the model works, timeouts, a full queue."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi.testclient import TestClient

from bertkit.server import ServerConfig, create_app

from .conftest import QUESTION, post


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
