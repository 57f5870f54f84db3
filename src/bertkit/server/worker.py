"""The models a server holds and the one thread that runs them, with the QA micro-batcher in front of it.

Inference is CPU-bound and the tokenizers are not safe to share between threads, so all model work runs on
one worker thread, and the event loop stays free to accept, validate and time out requests. QA requests
that arrive while the worker is busy are answered together in one batch (micro-batching: the queue is
drained, plus `batch_window_ms` of waiting for more); a lone request waits for nothing. Figures are drawn
on a second thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from ..tasks.qa import QAOptions, QuestionAnswerer
from .config import TASK_CLASSES, ServerConfig
from .errors import Busy
from .schemas import QARequest


@dataclass
class QAJob:
    question: str
    context: str
    options: QAOptions
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Models:
    """The configured models, each loaded once (the QA model at start, others on first use), used only from
    the single model thread.

    Args:
        config: which model serves which task.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.loaded: dict[str, Any] = {}
        self.lock = threading.RLock()

    @staticmethod
    def available() -> dict[str, bool]:
        """Each task this server offers (all of them: qa, tokenize and `TASK_CLASSES`) → True."""
        return {task: True for task in ("qa", "tokenize", *TASK_CLASSES)}

    def get(self, task: str) -> Any:
        with self.lock:
            if task not in self.loaded:
                self.loaded[task] = self._load(task)
            return self.loaded[task]

    def _load(self, task: str) -> Any:
        if task == "tokenize":
            return self.get("qa").model.tokenizer
        if task == "qa":
            return QuestionAnswerer(self.config.model)
        return TASK_CLASSES[task](self.config.task_models.get(task))

    def notes(self) -> dict[str, list[str]]:
        """The caveats of each loaded model (e.g. a head that was not trained), by task."""
        out = {}
        for task, obj in list(self.loaded.items()):
            model = getattr(obj, "model", None)
            if model is not None and getattr(model, "notes", None):
                out[task] = list(model.notes)
        return out


class Worker:
    """One model thread, a figure thread, and the QA micro-batcher in front of the model thread.

    Args:
        models: the models, used only on the model thread.
        config: the timeout, queue and batching limits.
    """

    def __init__(self, models: Models, config: ServerConfig):
        self.models, self.config = models, config
        self.model_thread = ThreadPoolExecutor(1, thread_name_prefix="bertkit-model")
        self.plot_thread = ThreadPoolExecutor(1, thread_name_prefix="bertkit-plot")
        self.queue: asyncio.Queue[QAJob] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batcher: asyncio.Task | None = None
        self.waiting = 0
        self.stats = {"qa_requests": 0, "qa_batches": 0, "largest_batch": 0}

    def _ensure_batcher(self) -> asyncio.Queue[QAJob]:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self.batcher is None or self.batcher.done():
            if self.batcher is not None and self.loop is not None and not self.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the old loop (another client's) stops its batcher
                    self.loop.call_soon_threadsafe(self.batcher.cancel)
            self.loop, self.queue = loop, asyncio.Queue()
            self.batcher = loop.create_task(self._batch_loop())
        assert self.queue is not None
        return self.queue

    async def close(self) -> None:
        if self.batcher is not None:
            self.batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self.batcher
        # The threads stay: an app can be started again (test clients run its lifespan more than once).

    async def _timed(self, future: Any) -> Any:
        try:
            return await asyncio.wait_for(future, self.config.timeout_s)
        except TimeoutError:
            raise HTTPException(504, f"request timed out after {self.config.timeout_s:g} s") from None

    def _admit(self) -> None:
        if self.waiting >= self.config.max_queue:
            raise Busy(f"server busy: {self.config.max_queue} requests are waiting; retry shortly")

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the model thread, with the request timeout."""
        self._admit()
        self.waiting += 1
        try:
            return await self._timed(asyncio.get_running_loop().run_in_executor(self.model_thread, fn))
        finally:
            self.waiting -= 1

    async def call(self, task: str, fn: Callable[[Any], Any]) -> Any:
        """`fn(the task's model object)` on the model thread (loading it first if need be)."""
        return await self.run(lambda: fn(self.models.get(task)))

    async def draw(self, fn: Callable[[], Any]) -> Any:
        """Run fn (drawing a figure) on the figure thread, with the request timeout."""
        return await self._timed(asyncio.get_running_loop().run_in_executor(self.plot_thread, fn))

    async def answer(self, request: QARequest) -> list[dict[str, Any]]:
        """The answers to one question, batched with the others waiting."""
        self._admit()
        queue = self._ensure_batcher()
        loop = asyncio.get_running_loop()
        options = QAOptions(top_k=request.top_k, max_answer_len=request.max_answer_len)
        job = QAJob(request.question, request.context, options, loop.create_future(), loop)
        self.waiting += 1
        try:
            queue.put_nowait(job)
            return await self._timed(job.future)
        finally:
            self.waiting -= 1

    async def _batch_loop(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch(self.queue, loop)
            batch = [job for job in batch if not job.future.done()]  # timed out while queued
            if batch:
                try:
                    await loop.run_in_executor(self.model_thread, self._answer_batch, batch)
                except Exception as e:  # the batcher lives on; these requests get the error
                    for job in batch:
                        _settle(job, error=e)

    async def _next_batch(self, queue: asyncio.Queue[QAJob], loop: asyncio.AbstractEventLoop) -> list[QAJob]:
        """The next job, with all those already queued and those arriving within the window (to max_batch)."""
        batch = [await queue.get()]
        deadline = loop.time() + self.config.batch_window_ms / 1000
        while len(batch) < self.config.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    def _answer_batch(self, batch: list[QAJob]) -> None:
        """On the model thread: answer jobs with the same settings together; an error stays with its job."""
        self.stats["qa_requests"] += len(batch)
        self.stats["qa_batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
        try:
            qa = self.models.get("qa")
        except Exception as e:
            for job in batch:
                _settle(job, error=e)
            return
        groups: dict[QAOptions, list[QAJob]] = {}
        for job in batch:
            groups.setdefault(job.options, []).append(job)
        for options, jobs in groups.items():
            try:
                results = qa.answer_many([j.question for j in jobs], [j.context for j in jobs], options)
            except Exception:  # find out whose input failed: answer one by one
                for job in jobs:
                    self._answer_one(qa, job)
                continue
            for job, answers in zip(jobs, results, strict=True):
                _settle(job, result=[a.to_dict() for a in answers])

    @staticmethod
    def _answer_one(qa: Any, job: QAJob) -> None:
        try:
            answers = qa(job.question, job.context, job.options)
            _settle(job, result=[a.to_dict() for a in answers])
        except Exception as e:
            _settle(job, error=e)


def _settle(job: QAJob, result: Any = None, error: BaseException | None = None) -> None:
    """Give a job its result or error, on its request's event loop (the future belongs to that loop)."""

    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the request's event loop is gone: nobody is waiting
        job.loop.call_soon_threadsafe(settle)


def current_worker(request: Request) -> Worker:
    """The app's worker, for routes (`WorkerDep`)."""
    return request.app.state.worker


# A route parameter `worker: WorkerDep` is the app's worker (not part of the request or the schema).
WorkerDep = Annotated[Worker, Depends(current_worker)]
