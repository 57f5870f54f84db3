"""The models a server holds and the one thread that runs them, with the QA batcher in front of it.

Inference is CPU-bound and the tokenizers are not safe to share between threads, so all model work runs on
one worker thread, and the event loop stays free to accept, validate and time out requests. QA questions
that wait together are answered together, in rounds of at most `round_tokens` tokens (`scheduler`): the
windows of many questions run in one model call, short questions first and long ones a slice per round,
so a short question never waits behind a long one for more than a round. A question past its deadline is
dropped before the next round: a request that got 504 stops costing work. A lone request waits for
nothing (`batch_window_ms` of waiting for company is optional). Figures are drawn on a second thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from ..encoding import QAWindows
from ..loading import Model
from ..tasks.qa import Answering, QAOptions, QuestionAnswerer
from ..tasks.qa_stream import concat_windows
from .config import TASK_CLASSES, ServerConfig
from .errors import Busy
from .scheduler import take_round
from .schemas import QARequest


@dataclass(eq=False)
class QAJob:
    """One question waiting for its answers, and how far it has got (`answering`, on the model thread)."""

    question: str
    context: str
    options: QAOptions
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    deadline: float  # time.monotonic() after which nobody waits for the answers
    order: int  # arrival: lower is older
    answering: Answering | None = None
    finished: bool = False

    def remaining_tokens(self) -> int:
        return self.answering.remaining_tokens() if self.answering is not None else 0

    def take(self, max_tokens: int) -> QAWindows | None:
        return self.answering.take(max_tokens=max_tokens) if self.answering is not None else None


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
        # A server runs on torch from the start (`Task.light_start`: numpy only pays for a one-shot command).
        if task == "qa":
            return QuestionAnswerer(self.config.model, light_start=False)
        return TASK_CLASSES[task](self.config.task_models.get(task), light_start=False)

    def described(self) -> dict[str, str]:
        """Which model serves each loaded task, in words (`Model.described`)."""
        return {
            task: obj.model.described
            for task, obj in list(self.loaded.items())
            if isinstance(getattr(obj, "model", None), Model)
        }

    def notes(self) -> dict[str, list[str]]:
        """The caveats of each loaded model (e.g. a head that was not trained), by task."""
        out = {}
        for task, obj in list(self.loaded.items()):
            model = getattr(obj, "model", None)
            if model is not None and getattr(model, "notes", None):
                out[task] = list(model.notes)
        return out


class Worker:
    """One model thread, a figure thread, and the QA batcher in front of the model thread.

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
        self.arrivals = itertools.count()
        # QA questions received, rounds run, the most questions in one round, questions dropped unfinished,
        # seconds the model thread spent in rounds
        self.stats = {
            "qa_requests": 0,
            "qa_batches": 0,
            "largest_batch": 0,
            "qa_dropped": 0,
            "qa_busy_s": 0.0,
        }

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

    def _admit(self, count: int = 1) -> None:
        if self.waiting + count > self.config.max_queue:
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

    async def answer(self, requests: Sequence[QARequest]) -> list[list[dict[str, Any]]]:
        """The answers to each question, worked on in fair rounds with the others waiting. A request
        that fails or times out takes the rest of its questions' work with it."""
        self._admit(len(requests))
        queue = self._ensure_batcher()
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.config.timeout_s
        jobs = [
            QAJob(
                r.question,
                r.context,
                QAOptions(top_k=r.top_k, max_answer_len=r.max_answer_len),
                loop.create_future(),
                loop,
                deadline,
                next(self.arrivals),
            )
            for r in requests
        ]
        self.waiting += len(jobs)
        self.stats["qa_requests"] += len(jobs)
        try:
            for job in jobs:
                queue.put_nowait(job)
            return await self._timed(asyncio.gather(*(job.future for job in jobs)))
        finally:
            self.waiting -= len(jobs)
            for job in jobs:  # nobody waits for these any more: the model thread drops them
                job.future.cancel()

    async def _batch_loop(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        pending: list[QAJob] = []
        while True:
            if not pending:
                pending = await self._next_batch(self.queue, loop)
            while not self.queue.empty():
                pending.append(self.queue.get_nowait())
            try:
                await loop.run_in_executor(self.model_thread, self._round, pending)
            except Exception as e:  # the batcher lives on; these requests get the error
                for job in pending:
                    _finish(job, error=e)
            pending = [job for job in pending if not job.finished]

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

    def _round(self, pending: list[QAJob]) -> None:
        """On the model thread: drop the jobs nobody waits for any more, then run one round of the others
        (`scheduler.take_round`) and give the finished ones their answers."""
        now = time.monotonic()
        try:
            self._round_of_live(pending, now)
        finally:
            self.stats["qa_busy_s"] = round(self.stats["qa_busy_s"] + time.monotonic() - now, 3)

    def _round_of_live(self, pending: list[QAJob], now: float) -> None:
        live = []
        for job in pending:
            if job.future.done() or now > job.deadline:
                self.stats["qa_dropped"] += 1
                _finish(job, error=HTTPException(504, f"request timed out after {self.config.timeout_s:g} s"))
            else:
                live.append(job)
        if not live:
            return
        try:
            qa = self.models.get("qa")
        except Exception as e:
            for job in live:
                _finish(job, error=e)
            return
        for job in live:
            if job.answering is None:
                try:
                    job.answering = qa.answering([job.question], [job.context], job.options)
                except Exception as e:  # this question's input
                    _finish(job, error=e)
        taken, failed = take_round(
            [j for j in live if not j.finished], self.config.round_tokens, self.config.max_batch
        )
        for job, error in failed:
            _finish(job, error=error)
        if taken:
            self.stats["qa_batches"] += 1
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(taken))
            self._run(qa, taken)

    def _run(self, qa: Any, taken: list[tuple[QAJob, QAWindows]]) -> None:
        """Run the windows of a round together and add each job's logits; an error stays with its job."""
        try:
            start_logits, end_logits = qa.run_windows(concat_windows([windows for _, windows in taken]))
        except Exception as e:
            if len(taken) == 1:
                _finish(taken[0][0], error=e)
            else:  # find out whose windows fail: run each job's alone
                for item in taken:
                    self._run(qa, [item])
            return
        row = 0
        for job, windows in taken:
            rows = slice(row, row + len(windows))
            row += len(windows)
            answering = job.answering
            assert answering is not None  # windows were taken from it
            try:
                answering.add(windows, start_logits[rows], end_logits[rows])
                if answering.done:
                    _finish(job, result=[a.to_dict() for a in answering.answers()[0]])
            except Exception as e:
                _finish(job, error=e)


def _finish(job: QAJob, result: Any = None, error: BaseException | None = None) -> None:
    """The job is done with: give it its result or error (`_settle`); it leaves the pending jobs."""
    job.finished = True
    _settle(job, result, error)


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
