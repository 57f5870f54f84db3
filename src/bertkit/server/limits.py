"""The body limits: 413 for request bodies over `ServerConfig.max_body_bytes`, before they are parsed, and 408
for a body not all received `ServerConfig.read_timeout_s` after its headers (a client trickling its body
cannot hold a request; `slow_clients` does the same for headers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

from .errors import error


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit, announced (Content-Length) or streamed; 408 for a
    body not complete in time.

    Args:
        app: the ASGI app it wraps.
        max_bytes: the largest body let through.
        read_timeout_s: seconds for the whole body, from the request's start (None: no limit).
    """

    def __init__(self, app: Any, max_bytes: int, read_timeout_s: float | None = None):
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body too large: at most {self.max_bytes} bytes"
        if announced_length(scope) > self.max_bytes:
            await error(413, too_large)(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = None if self.read_timeout_s is None else loop.time() + self.read_timeout_s
        seen, complete = 0, False

        async def limited() -> dict:
            nonlocal seen, complete
            if complete or deadline is None:  # after the body, waiting for a disconnect is not reading
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise HTTPException(
                        408, f"request body not received within {self.read_timeout_s:g} s"
                    ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large)  # FastAPI passes it on to the error handler
                complete = complete or not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)


def announced_length(scope: dict) -> int:
    """The request's Content-Length (the largest, if several), 0 when it has none or a malformed one.

    >>> announced_length({"headers": [(b"content-length", b"12")]}), announced_length({"headers": []})
    (12, 0)
    """
    lengths = [0]
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                lengths.append(int(value))
            except ValueError:
                pass
    return max(lengths)
