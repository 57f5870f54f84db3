"""Slow clients over real loopback sockets: unfinished headers and bodies are cut off at the read deadline.

A uvicorn server runs on a thread (its own event loop) with a 0.5 s read deadline; every socket here is
bounded in count (50) and time (a 10 s socket timeout).
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from bertkit.server import ServerConfig
from bertkit.server.app import uvicorn_config

READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def server_url(tiny_qa_dir):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    config = ServerConfig(model=str(tiny_qa_dir), preload=False, read_timeout_s=READ_TIMEOUT_S)
    server = uvicorn.Server(uvicorn_config(config, port=listening.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    listening.close()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (the socket timeout bounds the wait)."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body), or what came before the server closed."""
    received = b""
    while b"\r\n\r\n" not in received and (chunk := sock.recv(4096)):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := sock.recv(4096)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_unfinished_headers_are_cut_off_and_others_are_served(server_url):
    sockets = [connect(server_url) for _ in range(50)]
    for sock in sockets:
        sock.sendall(b"POST /v1/qa HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n")  # no end
    health = httpx.get(f"{server_url}/health", timeout=10)  # the server answers others meanwhile
    assert health.status_code == 200
    started = time.monotonic()
    replies = [read_until_closed(sock) for sock in sockets]
    held = time.monotonic() - started
    for sock in sockets:
        sock.close()
    assert all(reply.startswith(b"HTTP/1.1 408") for reply in replies)
    assert b"headers not received within 0.5 s" in replies[0]
    assert held < 10 * READ_TIMEOUT_S  # all closed at their deadline, not when the client gives up


def test_headers_sent_a_byte_at_a_time_are_cut_off(server_url):
    request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-padding: " + b"a" * 100 + b"\r\n\r\n"
    sock = connect(server_url)
    sent = 0
    with sock:
        try:
            for byte in request:  # one byte every 50 ms: the whole request would take 6 s
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)
        except OSError:  # the server closed the connection
            pass
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408") and sent < len(request)


def test_an_unfinished_body_gets_408(server_url):
    sock = connect(server_url)
    with sock:
        sock.sendall(
            b"POST /v1/qa HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
            b'{"question"'
        )
        reply = read_response(sock)
    assert reply.startswith(b"HTTP/1.1 408") and b"body not received within 0.5 s" in reply


def test_keep_alive_requests_each_get_the_deadline(server_url):
    with httpx.Client(base_url=server_url, timeout=10) as client:  # one connection, several requests
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(READ_TIMEOUT_S / 2)
