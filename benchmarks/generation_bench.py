"""Synthetic generation's request throughput against a local OpenAI-compatible server with a
fixed artificial latency, beside a plain sequential loop of the same requests, in one run.

The server (a separate process, so it does not share our GIL) answers every chat request
after ``--latency`` seconds with the scripted Self-Instruct model of the tests. Each side sends
``--requests`` requests each:

* **plain loop**: ``httpx.Client.post`` in a ``for`` loop, one request at a time (the baseline);
* **ours, concurrency 1**: ``generate.self_instruct`` through the shared ``ChatClient`` (retries,
  budget, parsing, the ROUGE-L filter) with one request at a time: its overhead shows here;
* **plain threads**: the same plain requests from ``--concurrency`` threads: what the server
  itself gives at that concurrency (the ceiling for any client);
* **ours, concurrency N**: the generator at ``--concurrency`` (goal: >= 4x the loop at 8 when
  the server keeps up; the ideal is N x).

    .venv/bin/python -m benchmarks.generation_bench                  # 64 requests, 50 ms, 8
    .venv/bin/python -m benchmarks.generation_bench --requests 200 --concurrency 16
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from app.llm.client import ChatClient, EndpointSettings
from app.synthetic import generate
from app.synthetic.generate import Sampling, Seed
from app.synthetic.templates import BUILTIN, TemplateName
from tests.llm_server import free_port

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    Seed(1, "Explain how volcanoes erupt"),
    Seed(2, "Write a haiku about autumn rain"),
    Seed(3, "Compare two chess openings for a beginner"),
]


_WORD_TEXT = (
    "river mountain ledger violin harbor orbit lantern meadow copper glacier sonnet tariff "
    "prism falcon cipher quarry thimble canyon beacon saddle walnut ember tundra quill "
    "marble pilgrim cobalt anvil lagoon fresco harvest nebula spindle granite ferry "
    "opal bramble citadel compass velvet summit dynamo lattice kettle mosaic"
)
WORDS = _WORD_TEXT.split()


def novel_tasks(body: dict[str, object]) -> str:
    """Eight tasks of random words per answer: novel enough that the ROUGE-L filter keeps
    nearly all of them, so every request does the full parse-and-filter work."""
    import random

    rng = random.Random(hash(str(body)) ^ time.perf_counter_ns())
    return "\n".join(f"{i}. Explain {' '.join(rng.sample(WORDS, 7))}" for i in range(1, 9))


def serve(port: int, latency: float) -> None:
    import uvicorn

    from tests.llm_server import Faults, scripted_app

    app, _ = scripted_app(novel_tasks, Faults(latency_s=latency))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def wait_up(url: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            httpx.get(url + "/docs", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def plain_loop(url: str, requests: int, concurrency: int = 1) -> float:
    prompt = BUILTIN[TemplateName.self_instruct].replace("{count}", "8")
    prompt = prompt.replace(
        "{tasks}", "\n".join(f"{i}. {s.instruction}" for i, s in enumerate(SEEDS, 1))
    )
    body = {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": 256}
    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(base_url=url + "/v1", timeout=30, limits=limits) as client:

        def one(_: int) -> str:
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])

        started = time.perf_counter()
        if concurrency == 1:
            for i in range(requests):
                one(i)
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, range(requests)))
        return time.perf_counter() - started


def ours(url: str, requests: int, concurrency: int) -> tuple[float, int, int]:
    settings = EndpointSettings(url, "m", concurrency=concurrency, max_requests=requests)
    templates = {name: (text, 0) for name, text in BUILTIN.items()}
    with ChatClient(settings) as client:
        started = time.perf_counter()
        out = generate.self_instruct(
            client, SEEDS, [], 10**6, templates, Sampling(0.7, 256), with_responses=False
        )
        seconds = time.perf_counter() - started
        sent = client.budget.requests
    return seconds, sent, len(out.drafts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency)
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.generation_bench", "--serve", str(port),
         "--latency", str(args.latency)],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_up(url)
        plain_loop(url, 4)  # warm the connection path once
        loop_s = plain_loop(url, args.requests)
        threads_s = plain_loop(url, args.requests, args.concurrency)
        one_s, one_sent, one_kept = ours(url, args.requests, 1)
        many_s, many_sent, many_kept = ours(url, args.requests, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=10)
    ideal = args.requests * args.latency
    print(f"{args.requests} requests, {args.latency * 1000:.0f} ms server latency "
          f"(sequential floor {ideal:.2f} s)")  # fmt: skip
    print(f"plain httpx loop, sequential : {loop_s:6.2f} s  {args.requests / loop_s:7.1f} req/s")
    print(f"plain httpx, {args.concurrency:<2} threads      : {threads_s:6.2f} s  "
          f"{args.requests / threads_s:7.1f} req/s  {loop_s / threads_s:.2f}x the loop "
          "(what the server gives at this concurrency: no parsing, no filters)")  # fmt: skip
    one_ratio = loop_s / one_s * one_sent / args.requests
    print(f"ours, concurrency 1          : {one_s:6.2f} s  {one_sent / one_s:7.1f} req/s  "
          f"({one_kept} tasks kept)  {one_ratio:.2f}x the loop")  # fmt: skip
    print(f"ours, concurrency {args.concurrency:<2}         : {many_s:6.2f} s  "
          f"{many_sent / many_s:7.1f} req/s  ({many_kept} tasks kept)  "
          f"{loop_s / many_s * many_sent / args.requests:.2f}x the loop "
          f"(ideal {args.concurrency}x)")  # fmt: skip


if __name__ == "__main__":
    main()
