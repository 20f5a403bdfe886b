"""Load and fault figures for mockserver: dropped connections, a soak, clients that hang up.

    python bench/reliability.py [--soak-seconds 300] [--journal-limit 20000] [--drops 10000]
                                [--clients 2000] [--parts drops,soak,hangups] [--json PATH]

Each part starts its own `mockserver serve` on 127.0.0.1 (a free port, a stub directory written
here) and sends traffic to it alone; every loop is bounded in count and time.

- drops: `--drops` connections opened and dropped mid-request, half after partial headers, half
  after the headers and part of a declared body; alternately closed cleanly (FIN) and reset
  (RST). Then: is the server up, does health answer, how many were journaled and how.
- soak: wrk at full speed on one stubbed GET for `--soak-seconds`, the journal bounded by
  `--journal-limit` so it fills early; RSS (VmRSS), open descriptors and the journal's size are
  sampled every `--sample-seconds`. Flat RSS once the journal is full means no leak per request.
- hangups: `--clients` clients connect and hold their connections, ask at once, and hang up
  together once every answer is under way: mid-delay (a stub with `delay_ms: 1000`; all hang up
  as soon as the journal holds every request) and mid-stream (SSE events 200 ms apart; all hang
  up once each has read its first event). Every request must be journaled, and the server's open
  descriptors must come back to their baseline.

Markdown goes to stdout, progress to stderr. Exit status 0 when every check held, 1 otherwise,
2 when a tool is missing (the `mockserver` executable; wrk for the soak).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

HOST: Final = "127.0.0.1"
PARTS: Final = ("drops", "soak", "hangups")
START_TIMEOUT_S: Final = 30.0
POLL_S: Final = 0.05  # between readiness and settling polls
SETTLE_TIMEOUT_S: Final = 60.0  # journal counts and descriptors settle within this, or fail
CONNECT_CONCURRENCY: Final = 100  # connects in flight at once, below the listen backlog (128)
DELAY_MS: Final = 1000
SSE_EVENTS: Final = 10
SSE_INTERVAL_MS: Final = 200
WRK_CONNECTIONS: Final = 32
RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

STUBS: Final = f"""\
- id: fast
  request: {{method: GET, path: /fast}}
  response: {{status: 200, json: {{ok: true}}}}
- id: upload
  request: {{method: POST, path: /upload}}
  response: {{status: 201}}
- id: slow
  request: {{method: GET, path: /slow}}
  response: {{status: 200, delay_ms: {DELAY_MS}, json: {{ok: true}}}}
- id: stream
  request: {{method: GET, path: /stream}}
  response:
    sse:
      interval_ms: {SSE_INTERVAL_MS}
      events:
{"".join(f"        - {{data: {{n: {n}}}}}{chr(10)}" for n in range(SSE_EVENTS))}"""


class BenchError(Exception):
    """The bench could not run (a tool missing, the server would not start)."""


def progress(message: str) -> None:
    print(f"[reliability] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def find_mockserver() -> list[str]:
    beside = Path(sys.executable).with_name("mockserver")
    exe = str(beside) if beside.exists() else shutil.which("mockserver")
    if exe is None:
        raise BenchError("the mockserver executable is not installed (pip install -e .)")
    return [exe]


def raise_fd_limit() -> int:
    """Lift this process's descriptor limit to its hard limit; the server inherits it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far, from /proc/stat."""
    line = Path("/proc/stat").read_text().split("\n", 1)[0]
    ticks = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def process_ticks(pid: int) -> int:
    """User + system clock ticks of one process so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


class CpuWatch:
    """The share of the machine's CPU that the server took, and that other processes took
    (neither the server, wrk nor this script): a busy neighbour skews throughput figures."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._server(), self._helpers(), machine_ticks()

    def _server(self) -> int:
        return process_ticks(self.pid)

    def _helpers(self) -> float:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once reaped
        me = resource.getrusage(resource.RUSAGE_SELF)
        seconds = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
        return seconds * self.tick

    def shares(self) -> tuple[float, float]:
        """(server, others) as shares of all CPUs since the start."""
        (server0, helpers0, (busy0, total0)) = self.start
        server1, helpers1, (busy1, total1) = self._server(), self._helpers(), machine_ticks()
        total = max(1, total1 - total0)
        server = (server1 - server0) / total
        others = max(0.0, (busy1 - busy0) - (server1 - server0) - (helpers1 - helpers0)) / total
        return server, others


# --- the server under test ---------------------------------------------------------------------


class Server:
    """`mockserver serve` on a free loopback port, stopped (SIGTERM) on leaving the block."""

    def __init__(self, stubs: Path, logs: Path, label: str, extra: list[str], pin: str | None):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = logs / f"{label}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        cmd = [*find_mockserver(), "serve", "--stubs", str(stubs), "--host", HOST]
        cmd += ["--port", str(self.port), "--log-level", "warning", *extra]
        if pin is not None:
            cmd = ["taskset", "-c", pin, *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid  # taskset execs the server: the same process
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.healthy():
            failure = None
            if self.proc.poll() is not None:
                failure = f"the server exited {self.proc.returncode}: {self.log_tail()}"
            elif time.monotonic() > deadline:
                failure = f"the server did not answer health in {START_TIMEOUT_S:.0f} s"
            if failure is not None:
                self.__exit__()
                raise BenchError(failure)
            time.sleep(POLL_S)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def log_tail(self) -> str:
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "(no output)"

    def call(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/__admin{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def healthy(self) -> bool:
        try:
            return bool(self.call("GET", "/health", timeout=2).get("status") == "ok")
        except (OSError, ValueError):
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmRSS for pid {self.pid}")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def entries(self, path: str) -> list[dict[str, Any]]:
        """The journal entries for one path (the admin API's own filter)."""
        found: list[dict[str, Any]] = self.call("POST", "/requests/find", {"path": path})[
            "requests"
        ]
        return found

    def count(self, path: str) -> int:
        found: int = self.call("POST", "/requests/count", {"path": path})["count"]
        return found

    def settle_stable(self, measure: Callable[[], int], quiet: float = 2.0) -> tuple[int, float]:
        """Poll `measure` until it has not changed for `quiet` seconds: (value, seconds)."""
        start = changed = time.monotonic()
        value = measure()
        while time.monotonic() - changed < quiet and time.monotonic() - start < SETTLE_TIMEOUT_S:
            time.sleep(POLL_S)
            latest = measure()
            if latest != value:
                value, changed = latest, time.monotonic()
        return value, changed - start

    def settle(self, measure: Callable[[], int], done: Callable[[int], bool]) -> tuple[int, float]:
        """Poll `measure` until `done` holds or SETTLE_TIMEOUT_S passes: (last value, seconds)."""
        start = time.monotonic()
        value = measure()
        while not done(value) and time.monotonic() - start < SETTLE_TIMEOUT_S:
            time.sleep(POLL_S)
            value = measure()
        return value, time.monotonic() - start


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Results:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))
        progress(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def statuses(entries: list[dict[str, Any]]) -> str:
    counted = Counter(str(entry.get("status")) for entry in entries)
    return ", ".join(f"{status}: {n}" for status, n in sorted(counted.items())) or "none"


# --- connections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the clients connect, and how many may be connecting at once."""

    port: int
    gate: asyncio.Semaphore

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with self.gate:
            return await asyncio.open_connection(HOST, self.port)


async def hang_up(writer: asyncio.StreamWriter, reset: bool) -> None:
    """Close as a client that gives up: cleanly (FIN), or with a TCP reset (RST)."""
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        writer.transport.abort()
        return
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def partial_headers(index: int) -> bytes:
    return f"GET /fast HTTP/1.1\r\nHost: {HOST}\r\nX-Drop: {index}".encode()


def partial_body(index: int) -> bytes:
    head = (
        f"POST /upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\nX-Drop: {index}\r\n\r\n"
    )
    return head.encode() + b'{"partial": "' + b"x" * 64


async def drop_one(index: int, target: Target) -> str | None:
    """Send part of a request and go; the error's name when the connection failed."""
    try:
        _reader, writer = await target.connect()
        writer.write(partial_headers(index) if index % 2 == 0 else partial_body(index))
        await writer.drain()
        await hang_up(writer, reset=close_kind(index) == "RST")
    except OSError as error:
        return type(error).__name__
    return None


async def drop_all(port: int, count: int) -> list[str | None]:
    target = Target(port, asyncio.Semaphore(CONNECT_CONCURRENCY))
    return await asyncio.gather(*(drop_one(index, target) for index in range(count)))


class Crowd:
    """Clients that connect, wait for each other, ask at once, and hang up together.

    Every client connects first (held connections: the server's descriptors show them all),
    then all send their request; each becomes ready when its answer is under way (sent for a
    delay, first event read for a stream). Once every client is ready and the journal holds
    every request, all hang up at once, so each leaves mid-answer.
    """

    def __init__(self, count: int, port: int) -> None:
        self.count = count
        self.target = Target(port, asyncio.Semaphore(CONNECT_CONCURRENCY))
        self.connected = 0
        self.ready = 0
        self.all_connected = asyncio.Event()
        self.go = asyncio.Event()
        self.leave = asyncio.Event()

    def _arrived(self, attribute: str) -> None:
        setattr(self, attribute, getattr(self, attribute) + 1)
        if attribute == "connected" and self.connected == self.count:
            self.all_connected.set()

    async def client(self, index: int, path: str, stream: bool) -> str:
        """'left' (hung up mid-answer), 'answered' (the answer had ended) or an error's name."""
        try:
            async with asyncio.timeout(2 * SETTLE_TIMEOUT_S):
                reader, writer = await self.target.connect()
                self._arrived("connected")
                await self.go.wait()
                writer.write(f"GET {path}?client={index} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                await writer.drain()
                seen = b""
                while stream and b"data:" not in seen:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    seen += chunk
                self._arrived("ready")
                await self.leave.wait()
                with contextlib.suppress(TimeoutError):
                    seen += await asyncio.wait_for(reader.read(65536), timeout=0.001)
                await hang_up(writer, reset=index % 2 == 1)
        except (OSError, TimeoutError) as error:
            self._arrived("ready")
            return type(error).__name__
        if stream:
            ended = f'"n":{SSE_EVENTS - 1}'.encode() in seen.replace(b" ", b"")
            return "answered" if ended else "left"
        return "answered" if seen else "left"


async def crowd(
    count: int, path: str, stream: bool, server: Server
) -> tuple[list[str], dict[str, Any]]:
    """Run the crowd; returns the clients' outcomes and what the server held at its peak."""
    crowd = Crowd(count, server.port)
    tasks = [asyncio.create_task(crowd.client(i, path, stream)) for i in range(count)]
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(crowd.all_connected.wait(), timeout=SETTLE_TIMEOUT_S)
    held = await asyncio.to_thread(server.fds)
    go = time.monotonic()
    crowd.go.set()
    journaled = 0
    while time.monotonic() < deadline:
        journaled = await asyncio.to_thread(server.count, path)
        if crowd.ready == count and journaled == count:
            break
        await asyncio.sleep(POLL_S / 5)
    peak = {
        "connected": crowd.connected,
        "fds_held_before_asking": held,
        "fds_when_all_ready": await asyncio.to_thread(server.fds),
        "ready": crowd.ready,
        "journaled_before_hangup": journaled,
        "seconds_from_ask_to_all_ready": round(time.monotonic() - go, 3),
    }
    crowd.leave.set()
    return list(await asyncio.gather(*tasks)), peak


# --- the parts --------------------------------------------------------------------------------


def part_drops(args: argparse.Namespace, stubs: Path, logs: Path, results: Results) -> None:
    progress(f"drops: {args.drops:,} connections dropped mid-request")
    with Server(stubs, logs, "drops", [], None) as server:
        fds0, rss0 = server.fds(), server.rss_mib()
        started = time.monotonic()
        dropped = asyncio.run(drop_all(server.port, args.drops))
        elapsed = time.monotonic() - started
        errors = [error for error in dropped if error is not None]
        up = server.alive() and server.healthy()
        journaled, waited = server.settle_stable(lambda: server.count("/upload"))
        entries = server.entries("/upload")
        headers_journaled = server.count("/fast")
        fds1, _ = server.settle(server.fds, fds0.__ge__)
        rss1 = server.rss_mib()
        health = server.call("GET", "/health")
    sent = {"FIN": 0, "RST": 0}
    seen = {"FIN": 0, "RST": 0}
    for index in range(1, args.drops, 2):
        sent[close_kind(index)] += 1
    for entry in entries:
        with contextlib.suppress(KeyError, ValueError):
            seen[close_kind(int(entry["headers"]["x-drop"]))] += 1
    bodies = sum(sent.values())
    by_close = ", ".join(f"{kind} {seen[kind]:,} of {sent[kind]:,}" for kind in sent)
    results.check("drops: server up and healthy after", up, f"health {health}")
    results.check(
        "drops: descriptors back to baseline", fds1 <= fds0, f"{fds0} before, {fds1} after"
    )
    results.check(
        "drops: partial headers are not requests", headers_journaled == 0, f"{headers_journaled}"
    )
    results.figures["drops"] = {
        "connections": args.drops,
        "seconds": round(elapsed, 2),
        "client_errors": len(errors),
        "partial_bodies_sent": sent,
        "partial_bodies_journaled": seen,
        "partial_body_statuses": statuses(entries),
        "partial_headers_journaled": headers_journaled,
        "journal_settled_after_s": round(waited, 2),
        "fds_before": fds0,
        "fds_after": fds1,
        "rss_before_mib": round(rss0, 1),
        "rss_after_mib": round(rss1, 1),
    }
    rows = [
        ["connections dropped", f"{args.drops:,} in {elapsed:.1f} s ({len(errors)} client errors)"],
        ["server after", "up; health answers 200" if up else "DOWN or health FAILED"],
        [
            "partial headers (never a whole request head)",
            f"{args.drops - bodies:,} sent; {headers_journaled} journaled",
        ],
        [
            "partial bodies (head complete, 77 of 1,000 body bytes)",
            f"{bodies:,} sent; {journaled:,} journaled ({statuses(entries)}); by close: {by_close}",
        ],
        ["open descriptors", f"{fds0} before, {fds1} after"],
        ["RSS", f"{rss0:.1f} MiB before, {rss1:.1f} MiB after"],
    ]
    results.sections.append("### Connections dropped mid-request\n\n" + table(["", ""], rows))


def close_kind(index: int) -> str:
    """How drop number `index` closes: alternately FIN and RST within each kind of drop."""
    return "RST" if (index // 2) % 2 == 1 else "FIN"


WRK_LATENCY: Final = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)


def wrk_summary(output: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if found := re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+)", output, re.MULTILINE):
        summary["requests"] = int(found.group(1))
    if found := re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE):
        summary["rps"] = float(found.group(1))
    if found := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        summary["non_2xx"] = int(found.group(1))
    if found := re.search(r"Socket errors: (.*)$", output, re.MULTILINE):
        summary["socket_errors"] = found.group(1).strip()
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for percentile, value, unit in WRK_LATENCY.findall(output):
        summary[f"p{percentile}_ms"] = float(value) * scale[unit]
    return summary


def part_soak(args: argparse.Namespace, stubs: Path, logs: Path, results: Results) -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk)")
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    extra = ["--journal-limit", str(args.journal_limit)]
    progress(f"soak: {args.soak_seconds} s of wrk, journal limit {args.journal_limit:,}")
    with Server(stubs, logs, "soak", extra, "0" if pin else None) as server:
        cmd = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{args.soak_seconds}s", "--latency"]
        cmd = [*(["taskset", "-c", "1"] if pin else []), *cmd, f"{server.url}/fast"]
        samples: list[dict[str, Any]] = []
        started = time.monotonic()

        interval = [CpuWatch(server.pid), time.monotonic(), 0]  # since the previous sample

        def sample() -> None:
            health = server.call("GET", "/health")
            now, answered = time.monotonic(), health["requests"] + health["dropped"]
            watch_then, then, answered_then = interval
            _, others = watch_then.shares()
            samples.append(
                {
                    "t": round(now - started),
                    "rss_mib": round(server.rss_mib(), 1),
                    "fds": server.fds(),
                    "entries": health["requests"],
                    "dropped": health["dropped"],
                    "rps": round((answered - answered_then) / max(now - then, 1e-9)),
                    "others_cpu": round(others, 3),
                }
            )
            interval[:] = [CpuWatch(server.pid), now, answered]
            progress(f"soak: {samples[-1]}")

        sample()
        watch = CpuWatch(server.pid)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as wrk:
            deadline = started + args.soak_seconds + 60
            next_sample = started + args.sample_seconds
            while wrk.poll() is None and time.monotonic() < deadline:
                time.sleep(max(0.0, min(next_sample, deadline) - time.monotonic()))
                if time.monotonic() >= next_sample and wrk.poll() is None:
                    sample()
                    next_sample += args.sample_seconds
            if wrk.poll() is None:
                wrk.kill()
            output = wrk.communicate(timeout=30)[0].decode(errors="replace")
        server_share, others_share = watch.shares()
        sample()
        up = server.alive() and server.healthy()
    summary = wrk_summary(output)
    if "rps" not in summary:
        raise BenchError(f"wrk gave no result: {output[-300:]}")
    full = [s for s in samples if s["entries"] >= args.journal_limit]
    # flat: from the first sample at least one interval after the journal filled, to the end
    settled = [s for s in full if full and s["t"] >= full[0]["t"] + args.sample_seconds]
    growth = settled[-1]["rss_mib"] - settled[0]["rss_mib"] if len(settled) >= 2 else None
    spread = (
        max(s["rss_mib"] for s in settled) - min(s["rss_mib"] for s in settled) if settled else None
    )
    results.check("soak: server up and healthy after", up, f"{summary['requests']:,} requests")
    results.check(
        "soak: the journal filled and stayed at its limit",
        bool(full) and all(s["entries"] == args.journal_limit for s in full),
        f"full from t={full[0]['t']} s" if full else "never full",
    )
    if growth is not None:
        flat = abs(growth) <= max(2.0, 0.02 * settled[0]["rss_mib"])
        results.check(
            "soak: RSS flat once the journal is full",
            flat,
            f"{settled[0]['rss_mib']:.1f} -> {settled[-1]['rss_mib']:.1f} MiB "
            f"(t={settled[0]['t']}..{settled[-1]['t']} s, spread {spread:.1f} MiB)",
        )
    results.figures["soak"] = {
        "seconds": args.soak_seconds,
        "journal_limit": args.journal_limit,
        "wrk": summary,
        "samples": samples,
        "rss_growth_after_full_mib": None if growth is None else round(growth, 1),
        "rss_spread_after_full_mib": None if spread is None else round(spread, 1),
        "pinned": pin,
        "server_cpu_share": round(server_share, 3),
        "other_processes_cpu_share": round(others_share, 3),
    }
    rows = [
        [
            str(s["t"]),
            f"{s['rss_mib']:.1f}",
            str(s["fds"]),
            f"{s['entries']:,}",
            f"{s['dropped']:,}",
            f"{s['rps']:,}",
            f"{s['others_cpu']:.0%}",
        ]
        for s in samples[1:]
    ]
    lines = [
        "### Soak at full speed",
        "",
        f"wrk -t1 -c{WRK_CONNECTIONS} -d{args.soak_seconds}s on `GET /fast` (a JSON stub); "
        f"journal limit {args.journal_limit:,}"
        + ("; server on CPU 0, wrk on CPU 1" if pin else ""),
        "",
        f"- {summary['requests']:,} requests, {summary['rps']:,.0f} requests/s, "
        f"p50 {summary.get('p50_ms', float('nan')):.2f} ms, "
        f"p99 {summary.get('p99_ms', float('nan')):.2f} ms, "
        f"non-2xx {summary.get('non_2xx', 0)}, socket errors {summary.get('socket_errors', 0)}",
        f"- CPU (share of both cores): the server {server_share:.0%}, other processes on the "
        f"machine {others_share:.0%}",
    ]
    if growth is not None:
        lines.append(
            f"- RSS once the journal is full (t={settled[0]['t']}..{settled[-1]['t']} s): "
            f"{settled[0]['rss_mib']:.1f} -> {settled[-1]['rss_mib']:.1f} MiB "
            f"(change {growth:+.1f} MiB, spread {spread:.1f} MiB)"
        )
    header = ["t (s)", "RSS (MiB)", "open fds", "entries", "dropped", "req/s", "others' CPU"]
    lines += [
        "",
        f"Before wrk: RSS {samples[0]['rss_mib']:.1f} MiB, {samples[0]['fds']} open fds. Each row: "
        "the sample, then requests answered a second and other processes' share of both CPUs "
        "since the previous one.",
        "",
        table(header, rows),
    ]
    results.sections.append("\n".join(lines))


def part_hangups(args: argparse.Namespace, stubs: Path, logs: Path, results: Results) -> None:
    rows: list[list[str]] = []
    figures: dict[str, Any] = {}
    for label, path, stream in (("mid-delay", "/slow", False), ("mid-SSE", "/stream", True)):
        progress(f"hangups: {args.clients} concurrent clients hang up {label}")
        with Server(stubs, logs, f"hangups-{path.strip('/')}", [], None) as server:
            fds0, rss0 = server.fds(), server.rss_mib()
            started = time.monotonic()
            outcomes, peak = asyncio.run(crowd(args.clients, path, stream, server))
            elapsed = time.monotonic() - started
            journaled, _ = server.settle(lambda path=path: server.count(path), args.clients.__le__)
            entries = server.entries(path)
            fds1, back_after = server.settle(server.fds, fds0.__ge__)
            rss1 = server.rss_mib()
            up = server.alive() and server.healthy()
        counted = Counter(outcomes)
        outcome_text = ", ".join(f"{k}: {v:,}" for k, v in sorted(counted.items()))
        results.check(
            f"hangups {label}: {args.clients:,} clients held at once, each left mid-answer",
            peak["connected"] == args.clients and counted["left"] == args.clients,
            f"{peak['connected']:,} connected; {outcome_text}",
        )
        results.check(
            f"hangups {label}: every request journaled",
            journaled == args.clients,
            f"{journaled:,} of {args.clients:,} ({statuses(entries)})",
        )
        results.check(
            f"hangups {label}: descriptors back to baseline",
            fds1 <= fds0,
            f"{fds0} before, {peak['fds_when_all_ready']:,} with every client waiting, "
            f"{fds1} after ({back_after:.1f} s)",
        )
        results.check(f"hangups {label}: server up and healthy after", up, "")
        figures[label] = {
            "clients": args.clients,
            "seconds": round(elapsed, 2),
            "outcomes": dict(counted),
            **peak,
            "journaled": journaled,
            "statuses": statuses(entries),
            "fds_before": fds0,
            "fds_after": fds1,
            "fds_back_after_s": round(back_after, 2),
            "rss_before_mib": round(rss0, 1),
            "rss_after_mib": round(rss1, 1),
        }
        rows.append(
            [
                label,
                f"{peak['connected']:,}",
                f"{peak['seconds_from_ask_to_all_ready']:.2f} s",
                outcome_text,
                f"{journaled:,} ({statuses(entries)})",
                f"{fds0} / {peak['fds_when_all_ready']:,} / {fds1}",
                f"{rss0:.1f} / {rss1:.1f}",
            ]
        )
    results.figures["hangups"] = figures
    header = [
        "hang up",
        "clients at once",
        "ask to all under way",
        "client outcome",
        "journaled (statuses)",
        "server fds before / all waiting / after",
        "RSS MiB before / after",
    ]
    results.sections.append("### Concurrent clients that hang up\n\n" + table(header, rows))


# --- the report -------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB memory"
    wrk = "not installed"
    if shutil.which("wrk"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10).stdout
            wrk = wrk.strip().splitlines()[0] if wrk.strip() else "wrk"
    return [
        f"- machine: {os.cpu_count()} CPUs ({cpu}){memory}; Linux {platform.release()}",
        f"- Python {platform.python_version()}; {wrk}",
    ]


@contextlib.contextmanager
def workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="mockserver-reliability-") as work:
        yield Path(work)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--drops", type=int, default=10_000, help="connections to drop")
    parser.add_argument("--soak-seconds", type=int, default=300, help="soak duration (s)")
    parser.add_argument("--sample-seconds", type=int, default=10, help="RSS sample interval (s)")
    parser.add_argument("--journal-limit", type=int, default=20_000, help="journal bound (soak)")
    parser.add_argument("--clients", type=int, default=2_000, help="clients that hang up")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--work", type=Path, help="keep stubs and server logs here")
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    for name in ("drops", "soak_seconds", "sample_seconds", "journal_limit", "clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_fd_limit()
    if limit < args.clients + 100:
        progress(f"warning: the descriptor limit is {limit}, below {args.clients} clients")
    results = Results()
    command = "python bench/reliability.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        with workspace(args.work) as work:
            stubs = work / "stubs"
            stubs.mkdir(exist_ok=True)
            (stubs / "reliability.yaml").write_text(STUBS, encoding="utf-8")
            parts = {"drops": part_drops, "soak": part_soak, "hangups": part_hangups}
            for name in args.parts:
                parts[name](args, stubs, work, results)
    except BenchError as error:
        progress(f"error: {error}")
        return 2
    passed = all(check.ok for check in results.checks)
    lines = [
        "## mockserver reliability figures",
        "",
        f"- command: `{command.strip()}`",
        *machine(),
        "",
        *[section + "\n" for section in results.sections],
        "### Checks",
        "",
        table(
            ["check", "result", "detail"],
            [[c.name, "ok" if c.ok else "FAILED", c.detail] for c in results.checks],
        ),
    ]
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"figures": results.figures, "checks": [c.__dict__ for c in results.checks]},
                indent=1,
            )
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
