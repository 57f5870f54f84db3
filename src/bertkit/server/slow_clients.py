"""Slow clients cannot hold the server: request headers and bodies must arrive within `read_timeout_s`.

uvicorn closes idle keep-alive connections, but a client that sends its headers a byte at a time (or
never finishes them) holds its connection for as long as it likes, and one that trickles its body holds a
request. Here:

- `timed_protocol`: uvicorn's HTTP protocol with a header deadline: a connection whose request headers
  are not complete `read_timeout_s` after it opened (or after its previous response) gets 408 and is
  closed.
- `BodyDeadline`: ASGI middleware: a request whose body is not complete `read_timeout_s` after its
  headers gets 408.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol


def timeout_message(read_timeout_s: float, what: str) -> str:
    return f"request {what} not received within {read_timeout_s:g} s"


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers take longer than
    `read_timeout_s` (a class attribute: `timed_protocol` makes the class for a server)."""

    read_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None
    _waiting_cycle: Any = None  # the request cycle that was current when the deadline was set

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self._deadline is not None and self.cycle is not self._waiting_cycle:  # headers are complete
            self._stop_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # the next request on this connection gets its own deadline
            self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._stop_deadline()
        self._waiting_cycle = self.cycle
        self._deadline = self.loop.call_later(self.read_timeout_s, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # closed already, or a request is in progress (its body has `BodyDeadline`)
        body = json.dumps({"error": timeout_message(self.read_timeout_s, "headers")}).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def timed_protocol(read_timeout_s: float) -> type[HeaderDeadline]:
    """The HTTP protocol class for uvicorn (`http=`) with this header deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"read_timeout_s": read_timeout_s})


class BodyDeadline:
    """ASGI middleware: 408 for a request whose body is not complete `read_timeout_s` after it started.

    Args:
        app: the ASGI app it wraps.
        read_timeout_s: seconds for the whole body.
    """

    def __init__(self, app: Any, read_timeout_s: float):
        self.app, self.read_timeout_s = app, read_timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        complete = False

        async def timed() -> dict:
            nonlocal complete
            if complete:  # after the body: waiting for a disconnect is not reading
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                # FastAPI passes it on to the error handler
                raise HTTPException(408, timeout_message(self.read_timeout_s, "body")) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed, send)
