"""HTTP API and web page: `bertkit serve` (FastAPI + uvicorn).

    GET  /                   the page (src/bertkit/web/)
    GET  /health             status, the models and which tasks this server offers
    POST /v1/qa              {question, context, top_k?, max_answer_len?} → {answers: [{answer, start, end, score}]}
    POST /v1/qa/batch        {items: [qa request, ...]} → {results: [{answers}, ...]}
    POST /v1/tokenize        {text, pair?, max_length?, stride?} → {windows: [...]}
    POST /v1/fill-mask, /v1/nsp, /v1/ner, /v1/embed, /v1/attention   (where those task modules exist)
    POST /v1/plot/qa?format=svg|png&kind=tokens|probabilities|both, /v1/plot/tokenize, /v1/plot/attention,
         /v1/plot/attends-to, /v1/plot/ner                            → image/svg+xml or image/png
    GET  /openapi.json       the schema

Models are the ones named at start (`ServerConfig`): a request never names a model, let alone a path
(unknown fields are rejected). The QA model loads at start; the others load once, on first use.

Inference is CPU-bound and the tokenizers are not safe to share between threads, so all model work runs
on one worker thread, and the event loop stays free to accept, validate and time out requests. QA requests
that arrive while the worker is busy are answered together in one batch (micro-batching: the queue is
drained, plus `batch_window_ms` of waiting for more); a lone request waits for nothing. Figures are drawn
on a second thread.

Every error is JSON `{"error": "..."}` naming the problem: 400 malformed JSON, 404/405 unknown route,
413 body too large, 422 missing/empty/wrong-typed/too-long fields or input the model cannot take,
503 queue full, 504 request timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from .errors import BertkitError, InputError

WEB_DIR = Path(__file__).parent / "web"

# Limits in the schema (so clients and fuzzers see them) and enforced by validation.
MAX_QUESTION_CHARS = 1_000
MAX_TEXT_CHARS = 20_000
MAX_PLOT_CHARS = 5_000  # figures of longer texts are unreadable anyway
MAX_BATCH_ITEMS = 64
MAX_TEXTS = 64

# API task name → (module, class, loading task). qa and tokenize are always there.
OPTIONAL_TASKS = {
    "fill-mask": ("bertkit.tasks.fill_mask", "FillMask"),
    "nsp": ("bertkit.tasks.nsp", "NextSentencePredictor"),
    "ner": ("bertkit.tasks.ner", "EntityTagger"),
    "embed": ("bertkit.tasks.embeddings", "Embedder"),
    "attention": ("bertkit.tasks.attention", "AttentionInspector"),
}


@dataclass
class ServerConfig:
    """What a server serves and its limits.

    Args:
        model: the QA model (its tokenizer serves /v1/tokenize): a directory, a Hub id, or None for the
            embedded default.
        task_models: models of the other tasks by API name ("ner": "path/to/ner-model"); a task not named
            uses the embedded default.
        max_body_bytes: larger request bodies get 413.
        timeout_s: a request not answered in this time gets 504.
        batch_window_ms: how long a QA batch waits for more requests once the first has arrived.
        max_batch: QA requests answered together at most.
        max_queue: requests waiting for the model at most; more get 503.
        preload: load the QA model at start (else on the first request).
    """

    model: str | None = None
    task_models: dict[str, str | None] = field(default_factory=dict)
    max_body_bytes: int = 1_000_000
    timeout_s: float = 30.0
    batch_window_ms: float = 0.0
    max_batch: int = 32
    max_queue: int = 512
    preload: bool = True


# --- request and response schemas ---------------------------------------------------------------------------


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


# Non-blank strings of at most so many characters (each field says what it holds in its description).
QuestionText = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(not_blank)]
LongText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(not_blank)]
PlotText = Annotated[str, Field(min_length=1, max_length=MAX_PLOT_CHARS), AfterValidator(not_blank)]
WordText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(not_blank)]
TopK = Annotated[int, Field(ge=1, le=20, description="Answers to return.")]
MaxAnswerLen = Annotated[int, Field(ge=1, le=512, description="Longest answer, in tokens.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QARequest(Strict):
    question: QuestionText = Field(description="The question.")
    context: LongText = Field(description="The text to answer from (long ones are windowed).")
    top_k: TopK = 1
    max_answer_len: MaxAnswerLen = 30


class AnswerOut(BaseModel):
    answer: str = Field(description="context[start:end]")
    start: int
    end: int
    score: float


class QAResponse(BaseModel):
    answers: list[AnswerOut]


class QABatchRequest(Strict):
    items: Annotated[list[QARequest], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class QABatchResponse(BaseModel):
    results: list[QAResponse]


class TokenizeRequest(Strict):
    text: LongText = Field(description="The text (the first sequence).")
    pair: LongText | None = Field(None, description="An optional second sequence.")
    max_length: Annotated[int, Field(ge=2, le=8192, description="Tokens per window.")] | None = None
    stride: Annotated[int, Field(ge=0, le=8192, description="Tokens shared by windows.")] = 0


class TokenizeResponse(BaseModel):
    windows: list[dict[str, Any]]


class FillMaskRequest(Strict):
    text: LongText = Field(description="A text with one or more mask tokens ([MASK] for BERT).")
    top_k: TopK = 5


class NSPRequest(Strict):
    first: LongText = Field(description="The first sentence.")
    second: LongText | None = Field(None, description="The candidate next sentence.")
    candidates: Annotated[list[LongText], Field(min_length=1, max_length=MAX_TEXTS)] | None = None


class NERRequest(Strict):
    text: LongText = Field(description="The text to tag.")
    aggregation: Literal["none", "simple", "first", "average", "max"] = "first"


class EmbedRequest(Strict):
    texts: Annotated[list[LongText], Field(min_length=1, max_length=MAX_TEXTS, description="Texts.")]
    normalize: bool = True
    similarity: bool = Field(False, description="Also return the cosine similarity matrix.")


class AttentionRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    layer: Annotated[int, Field(ge=-64, le=64)] | None = Field(None, description="None: mean over layers.")
    head: Annotated[int, Field(ge=-64, le=64)] | None = Field(None, description="None: mean over heads.")
    word: WordText | None = Field(None, description="Also say what this word attends to.")
    occurrence: Annotated[int, Field(ge=1, le=1000)] = 1


class PlotAttentionRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    layer: Annotated[int, Field(ge=-64, le=64)] = -1
    head: Annotated[int, Field(ge=-64, le=64)] = 0


class PlotAttendsToRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    word: WordText = Field(description="The word whose attention is drawn.")
    occurrence: Annotated[int, Field(ge=1, le=1000)] = 1
    layer: Annotated[int, Field(ge=-64, le=64)] | None = -1
    head: Annotated[int, Field(ge=-64, le=64)] | None = None


class PlotQARequest(Strict):
    question: QuestionText = Field(description="The question.")
    context: PlotText = Field(description="The text to answer from.")
    max_answer_len: MaxAnswerLen = 30


class PlotTextRequest(Strict):
    text: PlotText = Field(description="The text.")
    pair: PlotText | None = Field(None, description="An optional second sequence.")


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, in one line.")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in (
        (400, "Malformed JSON."),
        (413, "Body too large."),
        (422, "Missing, empty, wrong-typed or too long fields, or input the model cannot take."),
        (503, "Too many queued requests."),
        (504, "The request timed out."),
    )
}
IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The figure."}
}
ImageFormat = Annotated[Literal["svg", "png"], Query(description="svg or png.")]


# --- errors -------------------------------------------------------------------------------------------------


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """pydantic's errors → (status, one line naming the field and the problem)."""
    messages = []
    for e in errors[:3]:
        kind = e.get("type", "")
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = ".".join(loc)
        if kind == "json_invalid":
            detail = (e.get("ctx") or {}).get("error", "")
            return 400, f"malformed JSON: {detail}".rstrip(": ")
        if kind == "missing" and loc == [] and e.get("loc", ())[:1] == ("body",):
            return 422, "the body is empty: send a JSON object"
        if kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
            return 422, "the body must be a JSON object"
        if not where:
            where = "body"
        ctx = e.get("ctx") or {}
        if kind == "missing":
            text = "is required"
        elif kind == "extra_forbidden":
            text = "is not a known field" + (
                " (models are chosen when the server starts)" if loc[-1:] == ["model"] else ""
            )
        elif kind == "string_unicode":
            text = "must be valid Unicode text"
        elif kind == "string_too_short":
            text = "must not be empty"
        elif kind == "string_too_long":
            text = f"is too long: {len(e.get('input') or '')} characters, at most {ctx.get('max_length')}"
        elif kind in ("too_short", "too_long"):
            text = e.get("msg", "has the wrong number of items").lower()
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            expected = kind.removesuffix("_type").removesuffix("_parsing")
            expected = {
                "int": "an integer",
                "string": "a string",
                "bool": "true or false",
                "list": "a list",
            }.get(expected, f"of type {expected}")
            text = f"must be {expected}"
        else:
            text = str(e.get("msg", "is not valid")).removeprefix("Value error, ")
            if text.startswith("Input should be"):  # "Input should be less than or equal to 64"
                text = "must be" + text.removeprefix("Input should be")
            text = text[0].lower() + text[1:] if text else "is not valid"
        messages.append(f"{where} {text}")
    return 422, "; ".join(messages)


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit, announced (Content-Length) or streamed."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body too large: at most {self.max_bytes} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > self.max_bytes:
                    await error(413, too_large)(scope, receive, send)
                    return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large)  # FastAPI passes it on to the handler below
            return message

        await self.app(scope, limited, send)


# --- the model worker ---------------------------------------------------------------------------------------


class Busy(Exception):
    """The queue is full."""


@dataclass
class QAJob:
    question: str
    context: str
    top_k: int
    max_answer_len: int
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Models:
    """The configured models, each loaded once (the QA model at start, others on first use), used only from
    the single model thread."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.loaded: dict[str, Any] = {}
        self.lock = threading.RLock()

    @staticmethod
    def available() -> dict[str, bool]:
        found = {"qa": True, "tokenize": True}
        for name, (module, cls) in OPTIONAL_TASKS.items():
            try:
                found[name] = hasattr(importlib.import_module(module), cls)
            except Exception:  # a task module that is missing or broken is simply not offered
                found[name] = False
        return found

    def get(self, task: str) -> Any:
        with self.lock:
            if task not in self.loaded:
                self.loaded[task] = self._load(task)
            return self.loaded[task]

    def _load(self, task: str) -> Any:
        if task == "tokenize":
            return self.get("qa").model.tokenizer
        if task == "qa":
            from .tasks.qa import QuestionAnswerer

            return QuestionAnswerer(self.config.model)
        module, cls = OPTIONAL_TASKS[task]
        return getattr(importlib.import_module(module), cls)(self.config.task_models.get(task))

    def notes(self) -> dict[str, list[str]]:
        out = {}
        for task, obj in list(self.loaded.items()):
            model = getattr(obj, "model", None)
            if model is not None and getattr(model, "notes", None):
                out[task] = list(model.notes)
        return out


class Worker:
    """One model thread, a figure thread, and the QA micro-batcher in front of the model thread."""

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
            raise Busy()

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the model thread, with the request timeout."""
        self._admit()
        self.waiting += 1
        try:
            return await self._timed(asyncio.get_running_loop().run_in_executor(self.model_thread, fn))
        finally:
            self.waiting -= 1

    async def draw(self, fn: Callable[[], Any]) -> Any:
        return await self._timed(asyncio.get_running_loop().run_in_executor(self.plot_thread, fn))

    async def answer(self, request: QARequest) -> list[dict[str, Any]]:
        self._admit()
        queue = self._ensure_batcher()
        loop = asyncio.get_running_loop()
        job = QAJob(
            request.question,
            request.context,
            request.top_k,
            request.max_answer_len,
            loop.create_future(),
            loop,
        )
        self.waiting += 1
        try:
            queue.put_nowait(job)
            return await self._timed(job.future)
        finally:
            self.waiting -= 1

    async def _batch_loop(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        window = self.config.batch_window_ms / 1000
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + window
            while len(batch) < self.config.max_batch:
                if not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            batch = [job for job in batch if not job.future.done()]  # timed out while queued
            if batch:
                try:
                    await loop.run_in_executor(self.model_thread, self._answer_batch, batch)
                except Exception as e:  # the batcher lives on; these requests get the error
                    for job in batch:
                        _settle(job, error=e)

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
        groups: dict[tuple[int, int], list[QAJob]] = {}
        for job in batch:
            groups.setdefault((job.top_k, job.max_answer_len), []).append(job)
        for (top_k, max_answer_len), jobs in groups.items():
            try:
                results = qa.answer_many(
                    [j.question for j in jobs],
                    [j.context for j in jobs],
                    top_k=top_k,
                    max_answer_len=max_answer_len,
                )
            except Exception:
                if len(jobs) == 1:
                    results = None
                else:  # find out whose input failed: answer one by one
                    for job in jobs:
                        self._answer_one(qa, job)
                    continue
            if results is None:
                self._answer_one(qa, jobs[0])
                continue
            for job, answers in zip(jobs, results, strict=True):
                _settle(job, result=[a.to_dict() for a in answers])

    @staticmethod
    def _answer_one(qa: Any, job: QAJob) -> None:
        try:
            answers = qa(job.question, job.context, top_k=job.top_k, max_answer_len=job.max_answer_len)
            _settle(job, result=[a.to_dict() for a in answers])
        except Exception as e:
            _settle(job, error=e)


def _settle(job: QAJob, result: Any = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the request's event loop is gone: nobody is waiting
        job.loop.call_soon_threadsafe(settle)


# --- the app ------------------------------------------------------------------------------------------------


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI app (run it with uvicorn, or `bertkit serve`)."""
    config = config or ServerConfig()
    models = Models(config)
    worker = Worker(models, config)
    tasks = Models.available()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if config.preload:
            await asyncio.get_running_loop().run_in_executor(worker.model_thread, models.get, "qa")
        yield
        await worker.close()

    app = FastAPI(
        title="bertkit",
        version="0.1.0",
        description="BERT-family encoders over HTTP: extractive QA, tokenization, and pictures.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads its scripts from a CDN: useless offline
        redoc_url=None,
    )
    app.state.models, app.state.worker, app.state.config = models, worker, config
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe_validation(list(exc.errors()))
        return error(status, message)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error(404, f"not found: {request.url.path}")
        if exc.status_code == 405:
            return error(405, f"method {request.method} not allowed on {request.url.path}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(BertkitError)
    async def on_input(request: Request, exc: BertkitError) -> JSONResponse:
        return error(422 if isinstance(exc, InputError) else 500, str(exc))

    @app.exception_handler(Busy)
    async def on_busy(request: Request, exc: Busy) -> JSONResponse:
        response = error(503, f"server busy: {config.max_queue} requests are waiting; retry shortly")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def on_any(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")

    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, the models, the tasks offered and the QA batching counters."""
        return {
            "status": "ok",
            "model": config.model or "default",
            "task_models": {t: m or "default" for t, m in config.task_models.items()},
            "tasks": tasks,
            "loaded": sorted(models.loaded),
            "notes": models.notes(),
            "limits": {
                "max_body_bytes": config.max_body_bytes,
                "max_text_chars": MAX_TEXT_CHARS,
                "max_question_chars": MAX_QUESTION_CHARS,
                "max_plot_chars": MAX_PLOT_CHARS,
                "timeout_s": config.timeout_s,
            },
            "qa_batching": dict(worker.stats),
        }

    @app.post("/v1/qa", response_model=QAResponse, responses=ERRORS)
    async def qa(body: QARequest) -> dict[str, Any]:
        """The top answers to a question about a context; `context[start:end] == answer`."""
        return {"answers": await worker.answer(body)}

    @app.post("/v1/qa/batch", response_model=QABatchResponse, responses=ERRORS)
    async def qa_batch(body: QABatchRequest) -> dict[str, Any]:
        """Many questions at once (batched with whatever else is waiting)."""
        results = await asyncio.gather(*(worker.answer(item) for item in body.items))
        return {"results": [{"answers": answers} for answers in results]}

    @app.post("/v1/tokenize", response_model=TokenizeResponse, responses=ERRORS)
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        """Tokens, ids, segment ids, offsets, sequence and word ids of each window (the QA model's tokenizer)."""
        from .encoding import token_table

        def run() -> Any:
            return token_table(models.get("tokenize"), body.text, body.pair, body.max_length, body.stride)

        return {"windows": await worker.run(run)}

    if tasks["fill-mask"]:

        @app.post("/v1/fill-mask", responses=ERRORS)
        async def fill_mask(body: FillMaskRequest) -> dict[str, Any]:
            """Candidates for each mask token: {masks: [[{score, token, token_str, sequence}]]}."""

            def run() -> Any:
                filler = models.get("fill-mask")
                fills = filler.fill_many([body.text], top_k=body.top_k)[0]
                return {"mask_token": filler.mask_token, "masks": [[f.to_dict() for f in m] for m in fills]}

            return await worker.run(run)

    if tasks["nsp"]:

        @app.post("/v1/nsp", responses=ERRORS)
        async def nsp(body: NSPRequest) -> dict[str, Any]:
            """P(second follows first), or candidates ranked: give exactly one of second and candidates."""
            if (body.second is None) == (body.candidates is None):
                raise InputError("give exactly one of second and candidates")

            def run() -> Any:
                predictor = models.get("nsp")
                if body.second is not None:
                    return {"is_next": predictor(body.first, body.second)}
                return {
                    "ranked": [c.to_dict() for c in predictor.rank(body.first, list(body.candidates or ()))]
                }

            return await worker.run(run)

    if tasks["ner"]:

        @app.post("/v1/ner", responses=ERRORS)
        async def ner(body: NERRequest) -> dict[str, Any]:
            """Named entities with character offsets: {entities: [{entity_group, score, word, start, end}]}."""

            def run() -> Any:
                entities = models.get("ner")(body.text, aggregation=body.aggregation)
                return {"entities": [e.to_dict() for e in entities]}

            return await worker.run(run)

    if tasks["embed"]:

        @app.post("/v1/embed", responses=ERRORS)
        async def embed(body: EmbedRequest) -> dict[str, Any]:
            """Sentence embeddings (mean-pooled), optionally with their cosine similarities."""

            def run() -> Any:
                embedder = models.get("embed")
                vectors = embedder.encode(list(body.texts), normalize=body.normalize)
                out = {"dim": int(vectors.shape[1]), "embeddings": vectors.tolist()}
                if body.similarity:
                    from .tasks.embeddings import cosine_matrix

                    out["similarity"] = cosine_matrix(vectors).tolist()
                return out

            return await worker.run(run)

    if tasks["attention"]:

        @app.post("/v1/attention", responses=ERRORS)
        async def attention(body: AttentionRequest) -> dict[str, Any]:
            """Attention of a layer/head (None: averaged) as [n, n], and with `word` what it attends to."""

            def run() -> Any:
                weights = models.get("attention")(body.text)
                return weights.to_dict(body.layer, body.head, body.word, body.occurrence)

            return await worker.run(run)

    # --- figures ---

    def image(data: bytes, fmt: str) -> Response:
        return Response(data, media_type="image/svg+xml" if fmt == "svg" else "image/png")

    @app.post("/v1/plot/qa", responses={**ERRORS, **IMAGE}, response_class=Response)
    async def plot_qa(
        body: PlotQARequest,
        format: ImageFormat = "svg",
        kind: Annotated[
            Literal["tokens", "probabilities", "both"], Query(description="Which picture.")
        ] = "both",
    ) -> Response:
        """Token segments with the answer outlined, and/or start/end probability bars."""
        from . import viz

        def run() -> Any:
            return models.get("qa").explain(body.question, body.context, max_answer_len=body.max_answer_len)

        explained = await worker.run(run)
        draws: dict[str, Callable[[Any], Any]] = {
            "tokens": viz.token_segments_figure,
            "probabilities": viz.probabilities_figure,
            "both": viz.qa_figure,
        }
        draw = draws[kind]
        return image(await worker.draw(lambda: viz.to_bytes(draw(explained), format)), format)

    @app.post("/v1/plot/tokenize", responses={**ERRORS, **IMAGE}, response_class=Response)
    async def plot_tokenize(body: PlotTextRequest, format: ImageFormat = "svg") -> Response:
        """Token boxes coloured by sequence (text, pair, special)."""
        from . import viz
        from .encoding import token_table

        windows = await worker.run(lambda: token_table(models.get("tokenize"), body.text, body.pair))
        return image(await worker.draw(lambda: viz.to_bytes(viz.tokens_figure(windows), format)), format)

    if tasks["attention"]:

        @app.post("/v1/plot/attention", responses={**ERRORS, **IMAGE}, response_class=Response)
        async def plot_attention(body: PlotAttentionRequest, format: ImageFormat = "svg") -> Response:
            """All layers x heads as small maps, and one layer/head large."""
            from . import viz

            weights = await worker.run(lambda: models.get("attention")(body.text))

            def draw() -> bytes:
                fig = viz.attention_figure(weights.weights, weights.tokens, layer=body.layer, head=body.head)
                return viz.to_bytes(fig, format)

            return image(await worker.draw(draw), format)

        @app.post("/v1/plot/attends-to", responses={**ERRORS, **IMAGE}, response_class=Response)
        async def plot_attends_to(body: PlotAttendsToRequest, format: ImageFormat = "svg") -> Response:
            """Which tokens a word attends to (a layer/head; None averages)."""
            from . import viz

            def run() -> Any:
                weights = models.get("attention")(body.text)
                chosen = weights.to_dict(body.layer, body.head, body.word, body.occurrence)
                return weights, chosen

            weights, chosen = await worker.run(run)
            row = [0.0] * len(weights.tokens)
            for t in chosen["attends_to"]:
                row[t["index"]] = t["weight"]
            where = (
                f"layer {chosen['layer'] if chosen['layer'] is not None else 'mean'}, "
                f"head {chosen['head'] if chosen['head'] is not None else 'mean'}"
            )

            def draw() -> bytes:
                fig = viz.attends_to_figure(
                    weights.tokens,
                    row,
                    highlight=chosen["word"]["token_indices"],
                    title=f"what {chosen['word']['text']!r} attends to ({where})",
                )
                return viz.to_bytes(fig, format)

            return image(await worker.draw(draw), format)

    if tasks["ner"]:

        @app.post("/v1/plot/ner", responses={**ERRORS, **IMAGE}, response_class=Response)
        async def plot_ner(body: PlotTextRequest, format: ImageFormat = "svg") -> Response:
            """The text with its entities highlighted."""
            from . import viz

            if body.pair is not None:
                raise InputError("pair is not used by the NER figure")
            entities = await worker.run(lambda: [e.to_dict() for e in models.get("ner")(body.text)])
            return image(
                await worker.draw(lambda: viz.to_bytes(viz.entities_figure(body.text, entities), format)),
                format,
            )

    return app


def serve(
    config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning"
) -> None:
    """Run the server until interrupted."""
    import warnings

    import uvicorn

    # Characters no installed font has (rare planes, private use) draw as boxes; do not log each one.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, access_log=False)
