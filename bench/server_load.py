"""Load test of `bertkit serve`: QA requests from concurrent clients over loopback.

Starts the server in a subprocess on 127.0.0.1 (a free port), waits until it is ready, then
  1. sequential: one client, one short question at a time (the latency a lone user sees; goal p50 <= 15 ms),
  2. concurrent: --requests QA requests from --concurrency clients (httpx async), bounded in count and time,
and prints JSON: errors, p50/p90/p99 latency, requests/s, the server's peak RSS and its batching counters.

    python bench/server_load.py                       # the embedded default model, 1,000 requests, 16 clients
    python bench/server_load.py --requests 200 --model path/to/qa-model --max-batch 1   # no micro-batching

Traffic goes only to the loopback server this script starts; every loop is bounded (--requests,
--max-seconds) and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
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

SERVER = """
import sys
from bertkit.server import ServerConfig, serve
model, port, window, max_batch = sys.argv[1] or None, int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
serve(ServerConfig(model=model, batch_window_ms=window, max_batch=max_batch), host="127.0.0.1", port=port)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="", help="QA model directory (default: the embedded default)")
    parser.add_argument("--requests", type=int, default=1000, help="concurrent-phase requests")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--sequential", type=int, default=200, help="sequential-phase requests")
    parser.add_argument("--max-seconds", type=float, default=300, help="time bound of each phase")
    parser.add_argument("--batch-window-ms", type=float, default=0.0)
    parser.add_argument("--max-batch", type=int, default=32, help="1 turns micro-batching off")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    command = [
        sys.executable,
        "-c",
        SERVER,
        args.model,
        str(port),
        str(args.batch_window_ms),
        str(args.max_batch),
    ]
    server = subprocess.Popen(command, env=env)
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
        ready_s = time.monotonic() - started
        asyncio.run(sequential(url, 20, time.monotonic() + 60))  # warm-up
        seq = asyncio.run(sequential(url, args.sequential, time.monotonic() + args.max_seconds))
        conc = asyncio.run(
            concurrent(url, args.requests, args.concurrency, time.monotonic() + args.max_seconds)
        )
        health = httpx.get(f"{url}/health", timeout=10).json()
        load = os.getloadavg()
        result = {
            "model": health["model"],
            "server_ready_s": round(ready_s, 1),
            "batch_window_ms": args.batch_window_ms,
            "max_batch": args.max_batch,
            "sequential": seq,
            "concurrent": conc,
            "server_peak_rss_mb": round(peak_rss_mb(server.pid) or 0, 1) or None,
            "qa_batching": health["qa_batching"],
            "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(load[0], 2)},
        }
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
