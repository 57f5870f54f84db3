"""`bertkit serve`: the HTTP API and web page (`bertkit.server`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..checks import require_count
from ._util import ModelOpt, err


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOpt = None,
    task_model: Annotated[
        list[str] | None,
        typer.Option(
            "--task-model",
            help="TASK=MODEL for the other tasks (fill-mask, nsp, ner, embed, attention); repeatable.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a request gets 504.")] = 30.0,
    batch_window_ms: Annotated[
        float, typer.Option(help="How long a QA batch waits for more requests (ms).")
    ] = 0.0,
) -> None:
    """HTTP API and web page (GET / for the page, /openapi.json for the schema)."""
    from ..server import ServerConfig, parse_task_models
    from ..server import serve as run_server

    require_count(port, "--port", minimum=0, maximum=65535)
    config = ServerConfig(
        model=model,
        task_models=parse_task_models(task_model or ()),
        timeout_s=timeout,
        batch_window_ms=batch_window_ms,
    )
    err.print(f"bertkit serving on http://{host}:{port}/ (Ctrl-C stops)", markup=False)
    run_server(config, host=host, port=port)
