"""HTTP API and web page: `bertkit serve` (FastAPI + uvicorn).

    GET  /                   the page (src/bertkit/web/)
    GET  /health             status, the models and which tasks this server offers
    POST /v1/qa              {question, context, top_k?, max_answer_len?} → {answers: [{answer, start, end, score}]}
    POST /v1/qa/batch        {items: [qa request, ...]} → {results: [{answers}, ...]}
    POST /v1/tokenize        {text, pair?, max_length?, stride?} → {windows: [...]}
    POST /v1/fill-mask, /v1/nsp, /v1/ner, /v1/embed, /v1/attention
    POST /v1/plot/qa?format=svg|png&kind=tokens|probabilities|both, /v1/plot/tokenize, /v1/plot/attention,
         /v1/plot/attends-to, /v1/plot/ner                            → image/svg+xml or image/png
    GET  /openapi.json       the schema

Models are the ones named at start (`ServerConfig`): a request never names a model, let alone a path
(unknown fields are rejected). The QA model loads at start; the others load once, on first use.

    config.py    ServerConfig, the tasks offered (TASK_CLASSES), parse_task_models("TASK=MODEL" items)
    schemas.py   the request and response bodies and their limits
    errors.py    {"error": "..."} for every failure: validation errors in one line, statuses mapped once
    limits.py    the body limits: too large (413), not all received in time (408)
    slow_clients.py  the header deadline: unfinished headers get 408 and the connection is closed
    worker.py    the models (Models) and the model thread with the QA batcher (Worker)
    scheduler.py the QA batcher's fair rounds: short questions first, long ones a slice per round
    routes/      the endpoints by group: page + health, qa, text tasks, plots
    app.py       create_app (the pieces put together) and serve
"""  # noqa: E501

from .app import create_app, serve
from .config import TASK_CLASSES, ServerConfig, parse_task_models

__all__ = ["TASK_CLASSES", "ServerConfig", "create_app", "parse_task_models", "serve"]
