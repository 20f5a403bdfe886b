"""What the Redis state store costs: memory state beside `--state redis://...`, in one run.

    python bench/replicas.py [--duration S] [--warmup S] [--requests N] [--entries N] [--quick]

1. W1 and W3 (bench/workloads.py) on one replica, memory state, then Redis state: requests per
   second, p50 and p99, and the ratio (goal: Redis at least half of memory).
2. Two replicas on one Redis, --requests (50,000) spread over both by two wrk processes at once:
   the journal must hold every one, with seqs 1..N and no gap, read through either replica.
3. The count query (`POST /__admin/requests/count` for one path) at --entries (100,000) in a
   Redis journal, median of five (goal: at most 30 ms), beside the same query on memory state.

A redis-server of its own (no persistence) runs on the load core beside wrk, the replicas on the
server core (`taskset`). Tables go to stdout as Markdown, progress to stderr. Exit status: 0 when
every check passed, 1 when one failed, 2 when a tool is missing (wrk, redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import aiohttp
import yaml
from run import (
    HOST,
    JAR_DIR,
    W5_FILL_PATHS,
    W5_PATH,
    BenchError,
    Cpus,
    Row,
    Server,
    check_body,
    choose_cpus,
    count,
    cpu_busy,
    fill_headers,
    find_mockserver,
    fmt,
    free_port,
    load_average,
    measure,
    progress,
    request,
    run_wrk,
    table,
    warm,
)
from workloads import Workload, w1, w3

COUNT_RUNS: Final = 5
COUNT_GOAL_MS: Final = 30.0
RATIO_GOAL: Final = 0.5


@contextmanager
def redis_server(cpus: Cpus, work: Path) -> Iterator[str]:
    """A redis-server on the load core, no persistence; its URL."""
    binary = shutil.which("redis-server")
    assert binary is not None
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    args = ["--port", str(port), "--bind", HOST, "--dir", str(work), "--save", ""]
    args += ["--appendonly", "no", "--loglevel", "warning"]
    process = subprocess.Popen(cpus.pin_load([binary, *args]), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("redis-server did not start") from None
                time.sleep(0.01)
        yield f"redis://{HOST}:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def serve_cmd(exe: list[str], workload: Workload, work: Path, port: int, *flags: str) -> list[str]:
    stubs = work / "stubs" / workload.name
    stubs.mkdir(parents=True, exist_ok=True)
    (stubs / "bench.yaml").write_text(yaml.safe_dump(workload.stubs, sort_keys=False))
    return [*exe, "serve", "--stubs", str(stubs), "--host", HOST, "--port", str(port), *flags]


def state_flags(url: str | None, *extra: str) -> list[str]:
    if url is None:
        return list(extra)
    return ["--state", url, "--state-prefix", f"bench-{uuid.uuid4().hex[:8]}:", *extra]


def throughput(args: argparse.Namespace, workload: Workload, label: str, url: str | None) -> Row:
    port = free_port()
    cmd = serve_cmd(args.exe, workload, args.work, port, *state_flags(url))
    with Server(f"{workload.name} {label}", cmd, port, args.cpus, args.work / "logs") as server:
        server.wait_healthy("/__admin/health")
        check_body(port, workload, bare=False)
        warm(args.cpus, port, workload, label, args.warmup)
        return measure(args.cpus, server, workload, label, args.duration)


def journal_exact(args: argparse.Namespace, url: str) -> dict[str, object]:
    """--requests over two replicas at once: one journal, every seq from 1 to N once."""
    workload = w1()
    flags = state_flags(url, "--journal-limit", str(args.requests * 2))  # one prefix for both
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        servers = []
        for index, port in enumerate(ports):
            cmd = serve_cmd(args.exe, workload, args.work, port, *flags)
            server = Server(f"replica {index + 1}", cmd, port, args.cpus, args.work / "logs")
            servers.append(stack.enter_context(server))
        for server in servers:
            server.wait_healthy("/__admin/health")
        progress(f"journal: {args.requests:,} requests over two replicas")
        started = time.perf_counter()
        answered = asyncio.run(send_exactly(ports, args.requests))
        seconds = time.perf_counter() - started
        if answered != args.requests:
            raise BenchError(f"{args.requests - answered} requests were not answered 200")
        sent = args.requests
        seqs: list[int] = []
        for index, port in enumerate(ports):
            held = count(port, {})
            if held != sent:
                raise BenchError(f"replica {index + 1} counts {held} entries, {sent} were sent")
        after = 0
        while True:  # page through one replica's view: every seq once, none missing
            status, body = request(
                ports[1], "GET", f"/__admin/requests?since_seq={after}&limit=5000", timeout=60
            )
            page = json.loads(body)["requests"]
            if status != 200 or not page:
                break
            seqs.extend(entry["seq"] for entry in page)
            after = page[-1]["seq"]
        exact = seqs == list(range(1, sent + 1))
        return {"requests": sent, "seconds": seconds, "entries": len(seqs), "exact": exact}


async def send_exactly(ports: list[int], total: int, concurrency: int = 32) -> int:
    """`total` GETs of W1's path, alternating between the replicas, `concurrency` at a time
    (wrk overshoots a stop count by the requests in flight); how many were answered 200."""
    path = w1().path
    urls = [f"http://{HOST}:{ports[index % len(ports)]}{path}" for index in range(total)]
    answered = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal answered
        while urls:
            async with session.get(urls.pop()) as response:
                await response.read()
                answered += response.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return answered


def count_query(args: argparse.Namespace, label: str, url: str | None) -> dict[str, object]:
    """The count query for one path at --entries entries."""
    workload = w1()
    port = free_port()
    flags = state_flags(url, "--journal-limit", str(args.entries * 2))
    cmd = serve_cmd(args.exe, workload, args.work, port, *flags)
    with Server(f"count {label}", cmd, port, args.cpus, args.work / "logs") as server:
        server.wait_healthy("/__admin/health")
        progress(f"count {label}: recording {args.entries:,} requests")
        fill = {
            "BENCH_PATHS": ",".join(W5_FILL_PATHS),
            "BENCH_STOP_AFTER": str(args.entries),
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in fill_headers(port).items()),
        }
        run_wrk(args.cpus, port, workload, max(60, args.entries // 200), fill)
        # the first filtered query ({} is a matcher too): on Redis, it makes the replica's copy
        started = time.perf_counter()
        entries = count(port, {})
        first_ms = (time.perf_counter() - started) * 1000
        matching = 0
        times = []
        for _ in range(COUNT_RUNS):
            started = time.perf_counter()
            matching = count(port, {"path": W5_PATH})
            times.append((time.perf_counter() - started) * 1000)
    if entries < args.entries:
        raise BenchError(f"{label}: the journal holds {entries} entries after the fill")
    return {
        "state": label,
        "entries": entries,
        "matching": matching,
        "first_ms": first_ms,
        "median_ms": statistics.median(times),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    parser.add_argument("--requests", type=int, default=50_000, help="over two replicas")
    parser.add_argument("--entries", type=int, default=100_000, help="for the count query")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 2,000 requests")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--work", type=Path, default=JAR_DIR, help="scratch: stubs and logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.requests, args.entries = 1, 0, 2000, 2000
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for tool, package in (("wrk", "wrk"), ("redis-server", "redis-server")):
        if shutil.which(tool) is None:
            progress(f"{tool} not found (Debian: apt-get install {package})")
            return 2
    exe = find_mockserver()
    if exe is None:
        progress("the mockserver command is not installed (pip install -e '.[redis]')")
        return 2
    args.exe = exe
    args.work.mkdir(parents=True, exist_ok=True)
    args.cpus = choose_cpus()
    load_before, busy_before = load_average(), cpu_busy()
    failed = False
    rows: list[Row] = []
    journal: dict[str, object] = {}
    counts: list[dict[str, object]] = []
    with redis_server(args.cpus, args.work / "redis") as url:
        for workload in (w1(), w3()):
            for label, state in (("memory", None), ("redis", url)):
                try:
                    rows.append(throughput(args, workload, label, state))
                except BenchError as error:
                    progress(f"{workload.name} {label}: FAILED: {error}")
                    failed = True
        try:
            journal = journal_exact(args, url)
            failed |= not journal["exact"]
        except BenchError as error:
            progress(f"journal: FAILED: {error}")
            failed = True
        for label, state in (("memory", None), ("redis", url)):
            try:
                counts.append(count_query(args, label, state))
            except BenchError as error:
                progress(f"count {label}: FAILED: {error}")
                failed = True
    print(report(args, rows, journal, counts, load_before, busy_before))
    if args.json:
        raw = {"rows": [row.__dict__ for row in rows], "journal": journal, "counts": counts}
        args.json.write_text(json.dumps(raw, indent=2))
    return 1 if failed else 0


def report(
    args: argparse.Namespace,
    rows: list[Row],
    journal: dict[str, object],
    counts: list[dict[str, object]],
    load_before: str,
    busy_before: float,
) -> str:
    lines = ["# mockserver: memory state beside Redis state", ""]
    lines.append(
        f"{args.duration} s per row after {args.warmup} s of warm-up, wrk -c32 on one core, the "
        f"server on the other, redis-server beside wrk. Load average before: {load_before}; "
        f"CPUs {busy_before:.0%} busy before the run."
    )
    lines += ["", "## Throughput on one replica", ""]
    body = []
    for row in rows:
        same = (r for r in rows if r.workload == row.workload and r.server == "memory")
        memory = next(same, None)
        ratio = (
            f"{row.rps / memory.rps:.2f}x"
            if row.server == "redis" and memory and memory.rps and row.rps
            else ""
        )
        others = fmt(None if row.others_cpu is None else row.others_cpu * 100, ".0f", "%")
        body.append(
            [
                row.workload,
                row.server,
                fmt(row.rps),
                fmt(row.p50_ms, ".2f"),
                fmt(row.p99_ms, ".2f"),
                ratio,
                str(row.errors + row.non_2xx),
                others,
            ]
        )
    header = ["workload", "state", "req/s", "p50 ms", "p99 ms", "redis/memory", "errors", "others"]
    lines.append(table(header, body))
    lines.append(f"\nGoal: redis/memory at least {RATIO_GOAL}x.")
    lines += ["", "## One journal across two replicas", ""]
    if journal:
        lines.append(
            table(
                ["requests sent", "entries read back", "seqs 1..N, each once", "seconds"],
                [
                    [
                        f"{journal['requests']:,}",
                        f"{journal['entries']:,}",
                        "yes" if journal["exact"] else "NO",
                        f"{journal['seconds']:.1f}",
                    ]
                ],
            )
        )
    lines += ["", "## The count query", ""]
    lines.append(
        table(
            ["state", "entries", "matching", "first filtered query ms", "median ms"],
            [
                [
                    str(entry["state"]),
                    f"{entry['entries']:,}",
                    f"{entry['matching']:,}",
                    f"{entry['first_ms']:.1f}",
                    f"{entry['median_ms']:.1f}",
                ]
                for entry in counts
            ],
        )
    )
    lines.append(
        f"\nGoal: at most {COUNT_GOAL_MS:.0f} ms (median of {COUNT_RUNS} counts of one path). "
        "The first filtered query on a Redis replica copies the journal to it (see "
        "docs/replicas.md); later ones read only what is new."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
