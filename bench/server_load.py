"""Load test of `bertkit serve`: QA requests from concurrent clients over loopback.

Starts the server in a subprocess on 127.0.0.1 (a free port), waits until it is ready, then
  1. sequential: one client, one short question at a time (the latency a lone user sees; goal p50 <= 15 ms),
  2. concurrent: --requests QA requests from --concurrency clients (httpx async), bounded in count and time,
  3. mixed: --mixed-clients clients for --mixed-seconds, a quarter of them asking about long contexts
     (--long-chars), the others short questions: the short questions' latency (goal p50 <= 0.5 s with 32
     clients, no 5xx), also with rounds so large that they are unfair (--compare-unfair) and with the short
     clients alone (--compare-short-only),
  4. timeout: on a second server with a 5 s timeout, a /v1/qa/batch far too large for it (504), then the
     server's CPU seconds in the 5 s after the 504 (timed-out work must stop) and a short question's latency,
  5. slow sockets: --slow-sockets connections that never finish their headers; how long the server holds
     them (at most its read timeout) while it answers others,
and prints JSON: errors, p50/p90/p99 latency, requests/s, the server's peak RSS and its batching counters.

    python bench/server_load.py                       # the embedded default model, 1,000 requests, 16 clients
    python bench/server_load.py --requests 200 --model path/to/qa-model --max-batch 1   # no batching
    python bench/server_load.py --phases mixed,timeout,slow --mixed-seconds 60

Traffic goes only to the loopback servers this script starts; every loop is bounded (--requests,
--max-seconds, --mixed-seconds, socket timeouts) and the servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

EXAMPLES = [
    ("Where does John live?", "John lives in New York City. He works as a carpenter in Brooklyn."),
    ("What does John do?", "John lives in New York City. He works as a carpenter in Brooklyn."),
    ("Who wrote Hamlet?", "Hamlet is a tragedy written by William Shakespeare around 1600."),
    (
        "이순신은 어디에서 태어났나요?",
        "이순신은 1545년 서울 건천동에서 태어났다. 그는 조선 중기의 무신이었다.",
    ),
    ("When was the tower finished?", "The Eiffel Tower was finished in 1889 for the World's Fair in Paris."),
]

# Long contexts (--long-chars characters: 7 windows of 384 tokens at 8,000, 16 at 20,000) repeat this.
LONG_PARAGRAPH = " ".join(context for _, context in EXAMPLES[:3] + EXAMPLES[4:]) + " "
LONG_QUESTION = "Where does John live?"

SERVER = """
import json, sys
from bertkit.server import ServerConfig, serve
settings = json.loads(sys.argv[1])
port = settings.pop("port")
serve(ServerConfig(**settings), host="127.0.0.1", port=port)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water resident set (Linux VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None}
    ms = np.asarray(latencies) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def body(i: int) -> dict:
    question, context = EXAMPLES[i % len(EXAMPLES)]
    return {"question": question, "context": context}


async def sequential(url: str, n: int, deadline: float) -> dict:
    latencies, errors = [], 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i in range(n):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                r = await client.post("/v1/qa", json=body(i))
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok
    return {"requests": len(latencies), "errors": errors, **percentiles(latencies)}


async def concurrent(url: str, n: int, clients: int, deadline: float) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    next_index = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < n and time.monotonic() < deadline:
            i, next_index = next_index, next_index + 1
            started = time.perf_counter()
            try:
                r = await client.post("/v1/qa", json=body(i))
                key = str(r.status_code)
            except httpx.HTTPError as e:
                key = type(e).__name__
            latencies.append(time.perf_counter() - started)
            statuses[key] = statuses.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    done = len(latencies)
    return {
        "requests": done,
        "clients": clients,
        "errors": done - statuses.get("200", 0),
        "statuses": statuses,
        "wall_s": round(wall, 2),
        "requests_per_s": round(done / wall, 1) if wall else None,
        **percentiles(latencies),
    }


def long_body(chars: int) -> dict:
    context = (LONG_PARAGRAPH * (chars // len(LONG_PARAGRAPH) + 1))[:chars]
    return {"question": LONG_QUESTION, "context": context}


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def mixed(url: str, clients: int, long_share: float, long_chars: int, seconds: float) -> dict:
    """Short and long questions from `clients` clients for `seconds` (each client a fixed kind)."""
    latencies: dict[str, list[float]] = {"short": [], "long": []}
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    long_request = long_body(long_chars)

    async def client_loop(client: httpx.AsyncClient, index: int, kind: str) -> None:
        i = index
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                r = await client.post("/v1/qa", json=long_request if kind == "long" else body(i))
                key = str(r.status_code)
            except httpx.HTTPError as e:
                key = type(e).__name__
            latencies[kind].append(time.perf_counter() - started)
            statuses[key] = statuses.get(key, 0) + 1
            i += clients

    n_long = round(clients * long_share)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(
            *(client_loop(client, i, "long" if i < n_long else "short") for i in range(clients))
        )
    server_errors = sum(n for key, n in statuses.items() if key.startswith("5"))
    return {
        "clients": clients,
        "long_clients": n_long,
        "long_chars": long_chars,
        "seconds": seconds,
        "statuses": statuses,
        "server_errors": server_errors,
        "short": {"requests": len(latencies["short"]), **percentiles(latencies["short"])},
        "long": {"requests": len(latencies["long"]), **percentiles(latencies["long"])},
    }


async def timed_out_batch(url: str, pid: int, items: int, long_chars: int) -> dict:
    """A /v1/qa/batch that cannot finish in the server's timeout; what the server does after the 504."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        r = await client.post("/v1/qa/batch", json={"items": [long_body(long_chars)] * items})
        status_s = time.perf_counter() - started
        cpu_at_504 = cpu_seconds(pid)
        started = time.perf_counter()
        short = await client.post("/v1/qa", json=body(0))
        short_s = time.perf_counter() - started
        await asyncio.sleep(5)
        cpu_after = cpu_seconds(pid) - cpu_at_504
    return {
        "batch_items": items,
        "status": r.status_code,
        "status_after_s": round(status_s, 2),
        "short_question_after_504_s": round(short_s, 3),
        "short_status": short.status_code,
        "server_cpu_s_in_5_s_after_504": round(cpu_after, 2),
    }


def slow_sockets(url: str, count: int, max_seconds: float) -> dict:
    """`count` connections that send part of their headers and then nothing: how long the server keeps
    each open (it should close them at its read timeout), and whether it serves others meanwhile."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    started = time.monotonic()
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=max_seconds)
        sock.sendall(b"POST /v1/qa HTTP/1.1\r\nhost: x\r\n")
        sockets.append(sock)
    health = httpx.get(f"{url}/health", timeout=10).status_code
    held, replies = [], []
    for sock in sockets:
        with sock:
            try:
                reply = sock.recv(100)
                while sock.recv(4096):
                    pass
            except OSError:
                reply = b"still open"
            held.append(time.monotonic() - started)
            replies.append(reply.split(b"\r\n")[0].decode("latin-1"))
    return {
        "sockets": count,
        "health_meanwhile": health,
        "held_max_s": round(max(held), 2),
        "replies": {r: replies.count(r) for r in set(replies)},
    }


@contextlib.contextmanager
def running_server(settings: dict) -> Iterator[tuple[str, subprocess.Popen]]:
    """A server with these `ServerConfig` settings on a free loopback port, stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    server = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps({**settings, "port": port})], env=env)
    try:
        started = time.monotonic()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with code {server.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > 300:
                raise SystemExit("the server did not start in 300 s")
            time.sleep(0.2)
        yield url, server
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="", help="QA model directory (default: the embedded default)")
    parser.add_argument(
        "--phases", default="sequential,concurrent,mixed,timeout,slow", help="which, in order"
    )
    parser.add_argument("--requests", type=int, default=1000, help="concurrent-phase requests")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--sequential", type=int, default=200, help="sequential-phase requests")
    parser.add_argument("--max-seconds", type=float, default=300, help="time bound of each phase")
    parser.add_argument("--batch-window-ms", type=float, default=0.0)
    parser.add_argument("--max-batch", type=int, default=32, help="1 turns batching off")
    parser.add_argument("--round-tokens", type=int, default=None, help="tokens per QA round (server default)")
    parser.add_argument("--mixed-clients", type=int, default=32)
    parser.add_argument("--long-share", type=float, default=0.25, help="share of mixed clients asking long")
    parser.add_argument("--long-chars", type=int, default=8000, help="characters of a long context")
    parser.add_argument("--mixed-seconds", type=float, default=60)
    parser.add_argument("--compare-unfair", action="store_true", help="also mixed with whole-request rounds")
    parser.add_argument("--compare-short-only", action="store_true", help="also the short clients alone")
    parser.add_argument("--timeout-items", type=int, default=64, help="long items of the timed-out batch")
    parser.add_argument("--slow-sockets", type=int, default=50)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    phases = args.phases.split(",")
    settings = {
        "model": args.model or None,
        "batch_window_ms": args.batch_window_ms,
        "max_batch": args.max_batch,
    }
    if args.round_tokens:
        settings["round_tokens"] = args.round_tokens
    result: dict = {"model": args.model or "default", "phases": phases, "settings": settings}
    started = time.monotonic()
    with running_server(settings) as (url, server):
        result["server_ready_s"] = round(time.monotonic() - started, 1)
        asyncio.run(sequential(url, 20, time.monotonic() + 60))  # warm-up
        if "sequential" in phases:
            seq = asyncio.run(sequential(url, args.sequential, time.monotonic() + args.max_seconds))
            result["sequential"] = seq
        if "concurrent" in phases:
            deadline = time.monotonic() + args.max_seconds
            result["concurrent"] = asyncio.run(concurrent(url, args.requests, args.concurrency, deadline))
        if "mixed" in phases:
            mixed_args = (url, args.mixed_clients, args.long_share, args.long_chars, args.mixed_seconds)
            result["mixed"] = asyncio.run(mixed(*mixed_args))
            if args.compare_short_only:  # the same short clients, without the long ones
                shorts = args.mixed_clients - result["mixed"]["long_clients"]
                result["mixed_short_only"] = asyncio.run(mixed(url, shorts, 0.0, 0, args.mixed_seconds))
        if "slow" in phases:
            result["slow_sockets"] = slow_sockets(url, args.slow_sockets, max_seconds=60)
        health = httpx.get(f"{url}/health", timeout=10).json()
        result["server_peak_rss_mb"] = round(peak_rss_mb(server.pid) or 0, 1) or None
        result["qa_batching"] = health["qa_batching"]
    if "mixed" in phases and args.compare_unfair:  # rounds that take every waiting request whole
        with running_server({**settings, "round_tokens": 10**9}) as (url, server):
            mixed_args = (url, args.mixed_clients, args.long_share, args.long_chars, args.mixed_seconds)
            result["mixed_unfair_rounds"] = asyncio.run(mixed(*mixed_args))
    if "timeout" in phases:
        with running_server({**settings, "timeout_s": 5.0}) as (url, server):
            result["timeout"] = asyncio.run(
                timed_out_batch(url, server.pid, args.timeout_items, args.long_chars)
            )
    result["ratios"] = ratios(result)
    load = os.getloadavg()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_1m_at_end": round(load[0], 2),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),  # PASSIVE: no spinning on a shared machine
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


def ratios(result: dict) -> dict:
    """Figures measured in the same run, relative to each other (less disturbed by other load)."""
    out = {}
    short = result.get("mixed", {}).get("short", {}).get("p50_ms")
    alone = result.get("sequential", {}).get("p50_ms")
    unfair = result.get("mixed_unfair_rounds", {}).get("short", {}).get("p50_ms")
    if short and alone:
        out["mixed_short_p50_over_sequential_p50"] = round(short / alone, 1)
    if short and unfair:
        out["unfair_short_p50_over_fair_short_p50"] = round(unfair / short, 1)
    short_only = result.get("mixed_short_only", {}).get("short", {}).get("p50_ms")
    if short and short_only:
        out["mixed_short_p50_over_short_only_p50"] = round(short / short_only, 1)
    return out


if __name__ == "__main__":
    main()
