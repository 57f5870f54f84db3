"""The body-size limit: 413 for request bodies over `ServerConfig.max_body_bytes`, before they are parsed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

from .errors import error


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit, announced (Content-Length) or streamed.

    Args:
        app: the ASGI app it wraps.
        max_bytes: the largest body let through.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body too large: at most {self.max_bytes} bytes"
        if announced_length(scope) > self.max_bytes:
            await error(413, too_large)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large)  # FastAPI passes it on to the error handler
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
