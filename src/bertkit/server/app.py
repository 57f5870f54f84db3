"""The FastAPI app: the worker, the body limits, the error handlers and the routers put together; `serve`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .config import ServerConfig
from .errors import add_error_handlers
from .limits import BodyLimit
from .routes import ROUTERS
from .routes.page import WEB_DIR
from .slow_clients import timed_protocol
from .worker import Models, Worker


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the QA model at start (unless `preload` is off); stop the batcher at the end."""
    worker: Worker = app.state.worker
    if worker.config.preload:
        await asyncio.get_running_loop().run_in_executor(worker.model_thread, worker.models.get, "qa")
    yield
    await worker.close()


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI app (run it with uvicorn, or `bertkit serve`).

    Args:
        config: the models and limits (default: the embedded default models, default limits).
    """
    config = config or ServerConfig()
    models = Models(config)
    app = FastAPI(
        title="bertkit",
        version="0.1.0",
        description="BERT-family encoders over HTTP: extractive QA, tokenization, and pictures.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads its scripts from a CDN: useless offline
        redoc_url=None,
    )
    app.state.models, app.state.worker, app.state.config = models, Worker(models, config), config
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes, read_timeout_s=config.read_timeout_s)
    add_error_handlers(app)
    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app


def uvicorn_config(
    config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning"
) -> Any:
    """The uvicorn settings of a server of this app: its HTTP protocol has the header deadline
    (`slow_clients`).

    Args:
        config: the models and limits.
        host, port: where to listen (loopback by default).
        log_level: uvicorn's log level.
    """
    import uvicorn

    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=timed_protocol(config.read_timeout_s),
    )


def serve(
    config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning"
) -> None:
    """Run the server until interrupted.

    Args:
        config: the models and limits.
        host, port: where to listen (loopback by default).
        log_level: uvicorn's log level.
    """
    import warnings

    import uvicorn

    # Characters no installed font has (rare planes, private use) draw as boxes; do not log each one.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
    uvicorn.Server(uvicorn_config(config, host, port, log_level)).run()
