"""The model thread: batching, a free event loop while the model works, timeouts, a full queue, fair rounds."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from bertkit.server import ServerConfig, create_app
from bertkit.server.worker import QAJob
from bertkit.tasks.qa import QAOptions

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

    class Slow:  # the QA model, with a slow model call
        def __init__(self, qa):
            self.qa = qa

        def __getattr__(self, name):
            return getattr(self.qa, name)

        def run_windows(self, windows):
            time.sleep(1.0)
            return self.qa.run_windows(windows)

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


class Recorded:
    """The QA model, recording the rows of each model call (and optionally slower)."""

    def __init__(self, qa, seconds: float = 0.0):
        self.qa, self.seconds, self.calls = qa, seconds, []

    def __getattr__(self, name):
        return getattr(self.qa, name)

    def run_windows(self, windows):
        self.calls.append(len(windows))
        time.sleep(self.seconds)
        return self.qa.run_windows(windows)


def recorded_app(tiny_qa_dir, seconds: float = 0.0, **limits):
    """An app whose QA model records its calls; each round runs one long window plus the short ones."""
    app = create_app(ServerConfig(model=str(tiny_qa_dir), preload=False, round_tokens=64, **limits))
    app.state.models.loaded["qa"] = Recorded(app.state.models.get("qa"), seconds)
    return app, app.state.models.loaded["qa"]


LONG_CONTEXT = (
    "John lives in New York City and works as a carpenter in Brooklyn. " * 300
)  # 19,800 characters: 16 windows


def test_a_short_question_is_answered_while_a_long_one_runs(tiny_qa_dir):
    """Fairness: a short question queued behind a long one is answered in the next round, long before the
    long one is done (the long one gets a window per round)."""
    app, qa = recorded_app(tiny_qa_dir, seconds=0.02)
    worker = app.state.worker

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            long = asyncio.create_task(c.post("/v1/qa", json={"question": QUESTION, "context": LONG_CONTEXT}))
            for _ in range(1000):  # until the long question's first round has run
                if qa.calls:
                    break
                await asyncio.sleep(0.01)
            short = await c.post("/v1/qa", json={"question": QUESTION, "context": "John lives in Paris."})
            assert short.status_code == 200 and not long.done()
            assert (await long).status_code == 200
        # The short question ran in the second or third round, with a window of the long one; the long
        # one took a round per window.
        assert qa.calls.index(2) <= 2 and qa.calls.count(2) == 1 and len(qa.calls) > 10
        assert worker.stats["largest_batch"] == 2

    asyncio.run(run())


def test_a_timed_out_question_stops_costing_work(tiny_qa_dir):
    """A long question past its deadline gets 504, and the model stops working on it at the next round."""
    app, qa = recorded_app(tiny_qa_dir, seconds=0.05, timeout_s=0.3)
    worker = app.state.worker
    windows = len(qa.qa.logits([QUESTION], [LONG_CONTEXT])[0])

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            r = await c.post("/v1/qa", json={"question": QUESTION, "context": LONG_CONTEXT})
            assert r.status_code == 504
            for _ in range(1000):
                if worker.stats["qa_dropped"]:
                    break
                await asyncio.sleep(0.01)
            calls = len(qa.calls)
            await asyncio.sleep(0.2)  # four more rounds' worth of time: none runs
            assert len(qa.calls) == calls < windows

    asyncio.run(run())


def test_a_question_past_its_deadline_is_never_run(tiny_qa_dir):
    app, qa = recorded_app(tiny_qa_dir)
    worker = app.state.worker

    async def run() -> None:
        loop = asyncio.get_running_loop()
        job = QAJob(QUESTION, "John lives in Paris.", QAOptions(), loop.create_future(), loop, 0.0, 0)
        worker._round([job])
        assert job.finished and qa.calls == [] and worker.stats["qa_dropped"] == 1
        with pytest.raises(HTTPException, match="timed out"):
            await job.future

    asyncio.run(run())
