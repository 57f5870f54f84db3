"""Slow clients cannot hold connections: request headers must arrive within `read_timeout_s`.

uvicorn closes idle keep-alive connections, but a client that sends its headers a byte at a time (or
never finishes them) holds its connection for as long as it likes. `timed_protocol` is uvicorn's HTTP
protocol with a header deadline: a connection whose request headers are not complete `read_timeout_s`
after it opened (or after its previous response) gets 408 and is closed. A body trickled after complete
headers gets 408 from `limits.BodyLimit`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


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
        body = json.dumps(
            {"error": f"request headers not received within {self.read_timeout_s:g} s"}
        ).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def timed_protocol(read_timeout_s: float) -> type[HeaderDeadline]:
    """The HTTP protocol class for uvicorn (`http=`) with this header deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"read_timeout_s": read_timeout_s})
