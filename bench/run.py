"""Benchmark mockserver beside WireMock standalone and the bare aiohttp responders, in one run.

    python bench/run.py [--duration S] [--warmup S] [--long-warmup S] [--quick] [--json PATH]

Workloads (issue 7): W0 bare responders, W1 10 stubs, W2 1,000 literal paths, W3 POST with a
body.json match and 20 decoys, W4 a template, W5 the journal count query at 100,000 entries,
and start-up to the first mocked response. Each server is pinned to one core and wrk to another
(`taskset`); every workload first checks the response body is the stubbed one. The tables go to
stdout as Markdown, progress to stderr. Exit status: 0 when every check passed, 1 when one failed,
2 when a tool is missing (wrk always; java, the WireMock jar and uvloop with --require-all).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Final

import yaml
from workloads import CUSTOMER, CUSTOMER_BODY, Workload, all_workloads, same_body, w1

HERE: Final = Path(__file__).resolve().parent
WRK_SCRIPT: Final = HERE / "wrk.lua"
JAR_DIR: Final = HERE / ".work"  # git-ignored; the npm package is kept across runs
HOST: Final = "127.0.0.1"
WIREMOCK_VERSION: Final = "3.13.2"
CONNECTIONS: Final = 32
# Pauses between readiness polls: short, so start-up is measured to within a few ms.
POLL_INTERVAL_S: Final = 0.002
START_TIMEOUT_S: Final = 60.0
W5_PATH: Final = "/v1/customers/cus_123"
W5_FILL_PATHS: Final = (
    W5_PATH,
    "/v1/products/prod_0",
    "/v1/products/prod_1",
    "/v1/products/prod_2",
)
W5_REQUEST_BYTES: Final = 300
ALL_PARTS: Final = ("W0", "W1", "W2", "W3", "W4", "W5", "startup")
NOISY: Final = 0.05  # other processes' CPU share above which a row is flagged
COUNT_RUNS: Final = 5  # the count query's time is the median of these


class BenchError(Exception):
    """A check that failed: the row is reported as FAILED and the run exits 1."""


class NotSupported(BenchError):
    """The server rejects a workload's stubs: a feature it does not have yet."""


class ToolMissing(Exception):
    """A tool the bench needs is not installed."""


@dataclass
class Row:
    workload: str
    server: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    non_2xx: int | None = None
    others_cpu: float | None = None  # share of both CPUs other processes took meanwhile
    note: str = ""


@dataclass
class Startup:
    server: str
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def median_rss_mib(self) -> float | None:
        return statistics.median(self.rss_mib) if self.rss_mib else None


@dataclass
class Journal:
    server: str
    entries: int | None = None
    matching: int | None = None
    count_ms: list[float] = field(default_factory=list)
    rss_before_mib: float | None = None
    rss_after_mib: float | None = None
    note: str = ""

    @property
    def bytes_per_entry(self) -> float | None:
        if self.entries and self.rss_before_mib is not None and self.rss_after_mib is not None:
            return (self.rss_after_mib - self.rss_before_mib) * 2**20 / self.entries
        return None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    startups: list[Startup] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: bool = False


# ---------------------------------------------------------------------------------------------
# Processes and HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far, from /proc/stat; (0, 0) where it is missing."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0, 0
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(x) for x in line.split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def process_ticks(pid: int) -> int:
    """User + system clock ticks of one process (all its threads)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


class CpuWatch:
    """How much CPU the rest of the machine took while we measured: a shared machine skews
    every figure, so each row says so rather than hiding it."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._ours(), machine_ticks()

    def _ours(self) -> float:
        # the server, wrk (a reaped child by the time we read this) and this script
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        seconds = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
        return process_ticks(self.server_pid) + seconds * self.tick

    def others_share(self) -> float | None:
        (ours0, (busy0, total0)), ours1, (busy1, total1) = self.start, self._ours(), machine_ticks()
        if total1 <= total0:
            return None
        return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (total1 - total0)


def server_env() -> dict[str, str]:
    """Servers run as they do installed, where pip and Docker leave compiled bytecode: cached
    (under bench/.work, out of the tree) even when the caller's shell sets
    PYTHONDONTWRITEBYTECODE, which would otherwise recompile every module at each start."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(JAR_DIR / "pycache")
    return env


class Server:
    """A server process pinned to the server core; stopped on exit from the `with` block."""

    def __init__(self, label: str, cmd: list[str], port: int, cpus: Cpus, logs: Path) -> None:
        self.label, self.port = label, port
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / (label.replace(" ", "_").replace("/", "_") + ".log")
        self._log: IO[bytes] = self.log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cpus.pin_server(cmd),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=HERE.parent,
            env=server_env(),
        )

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def first_log_line(self) -> str:
        """The first line of output: where a load error names the stub and field."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.strip():
                return line.strip().removeprefix(str(HERE.parent) + "/")[:200]
        return "(no output)"

    def wait_until(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> float:
        """Poll `ready` until it holds; return the seconds since spawn."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            code = self.proc.poll()
            if code is not None:
                self._log.flush()
                message = f"{self.label} exited {code}: {self.first_log_line()}"
                raise (NotSupported if code in (1, 2) else BenchError)(message)
            with contextlib.suppress(OSError, http.client.HTTPException):
                if ready():
                    return time.perf_counter() - self.started
            time.sleep(POLL_INTERVAL_S)
        raise BenchError(f"{self.label} not ready after {timeout:.0f} s (log: {self.log_path})")

    def wait_healthy(self, path: str) -> float:
        return self.wait_until(lambda: request(self.port, "GET", path, timeout=2)[0] == 200)

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)


@dataclass(frozen=True)
class Cpus:
    server: int
    load: int
    taskset: bool

    def pin_server(self, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", str(self.server), *cmd] if self.taskset else cmd

    def pin_load(self, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", str(self.load), *cmd] if self.taskset else cmd


# ---------------------------------------------------------------------------------------------
# The servers under test


@dataclass(frozen=True)
class Target:
    """How to start one server with a workload's stubs, and how it reports readiness."""

    label: str
    start: Callable[[Workload, int], list[str]]
    health_path: str | None  # None: poll the workload's own path (the bare responders)


# Not one of the W0 responders: aiohttp's low-level server writing pre-serialised bytes
# as mockserver's fixed answers do. Its row shows what matching and journaling cost on that path.
WRITTEN_LABEL: Final = "aiohttp low-level + uvloop, bytes written"
# The start-up and memory floor of mockserver's own stack (aiohttp app on uvloop, pydantic,
# PyYAML, one model): start-up ≤ 1.3x and idle RSS ≤ +15 MiB of it are the targets.
FLOOR_LABEL: Final = "aiohttp web + uvloop + pydantic + PyYAML (floor)"


def bare_target(kind: str, uvloop: bool) -> Target:
    if kind == "written":
        label = WRITTEN_LABEL
    elif kind == "floor":
        label = FLOOR_LABEL
    else:
        label = ("aiohttp web" if kind == "web" else "aiohttp low-level") + (
            " + uvloop" if uvloop else ""
        )
    script = str(HERE / "responders.py")
    flags = ["--uvloop"] if uvloop else []
    return Target(
        label,
        lambda _, port: [sys.executable, script, kind, *flags, "--port", str(port)],
        None,
    )


def mockserver_target(exe: list[str], work: Path) -> Target:
    def start(workload: Workload, port: int) -> list[str]:
        stubs = work / "stubs" / workload.name
        stubs.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(workload.stubs, sort_keys=False, allow_unicode=True)
        (stubs / "bench.yaml").write_text(text)
        return [*exe, "serve", "--stubs", str(stubs), "--host", HOST, "--port", str(port)]

    return Target("mockserver", start, "/__admin/health")


def wiremock_target(jar: Path, work: Path, label: str, *flags: str) -> Target:
    def start(workload: Workload, port: int) -> list[str]:
        root = work / "wiremock" / workload.name
        (root / "mappings").mkdir(parents=True, exist_ok=True)
        (root / "__files").mkdir(exist_ok=True)
        mappings = json.dumps({"mappings": workload.mappings}, indent=1)
        (root / "mappings" / "bench.json").write_text(mappings)
        cmd = ["java", "-jar", str(jar), "--port", str(port), "--bind-address", HOST]
        return [*cmd, "--root-dir", str(root), "--disable-banner", *flags]

    return Target(label, start, "/__admin/health")


def find_mockserver() -> list[str] | None:
    beside = Path(sys.executable).with_name("mockserver")
    exe = str(beside) if beside.exists() else shutil.which("mockserver")
    return [exe] if exe else None


def find_wiremock_jar() -> Path:
    """The standalone jar from the npm package `wiremock`, installed into bench/.work on demand."""
    if env := os.environ.get("WIREMOCK_JAR"):
        return Path(env)
    if shutil.which("java") is None:
        raise ToolMissing(
            "java not found: WireMock skipped (Debian: apt-get install openjdk-17-jre)"
        )
    build = JAR_DIR / "node_modules" / "wiremock" / "build"
    jars = sorted(build.glob("wiremock-standalone-*.jar"))
    if not jars:
        npm = shutil.which("npm")
        if npm is None:
            raise ToolMissing(
                "npm not found, so no WireMock jar: WireMock skipped (set WIREMOCK_JAR)"
            )
        progress(f"installing wiremock@{WIREMOCK_VERSION} from npm into {JAR_DIR}")
        cmd = [npm, "install", "--prefix", str(JAR_DIR), "--no-audit", "--no-fund"]
        done = subprocess.run(
            [*cmd, f"wiremock@{WIREMOCK_VERSION}"], capture_output=True, text=True, timeout=600
        )
        jars = sorted(build.glob("wiremock-standalone-*.jar"))
        if done.returncode != 0 or not jars:
            raise ToolMissing(f"npm install wiremock failed: {done.stderr.strip()[-300:]}")
    return jars[-1]


# ---------------------------------------------------------------------------------------------
# Measurements


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def check_body(port: int, workload: Workload, bare: bool) -> None:
    status, body = request(port, workload.method, workload.path, workload.body, workload.headers)
    if bare:
        if status != 200 or body != CUSTOMER_BODY:
            raise BenchError(f"bare responder answered {status} {body[:80]!r}")
        return
    if status != 200:
        raise BenchError(f"{workload.method} {workload.path} answered {status}: {body[:160]!r}")
    try:
        actual = json.loads(body)
    except ValueError as exc:
        raise BenchError(f"not JSON: {body[:160]!r}") from exc
    if not same_body(workload, actual):
        if workload.loose and b"{{" in body:
            raise NotSupported(f"template not rendered: {body[:120]!r}")
        raise BenchError(f"unexpected body {body[:160]!r}")


def run_wrk(
    cpus: Cpus, port: int, workload: Workload, seconds: int, extra_env: dict[str, str] | None = None
) -> dict[str, int]:
    env = {
        **os.environ,
        "BENCH_METHOD": workload.method,
        "BENCH_BODY": workload.body.decode(),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in workload.headers.items()),
        **(extra_env or {}),
    }
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(WRK_SCRIPT)]
    url = f"http://{HOST}:{port}{workload.path}"
    proc = subprocess.Popen(
        cpus.pin_load([*cmd, url]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None  # a pipe
    result: dict[str, int] | None = None
    output: list[str] = []
    try:
        # Ends by itself after `seconds`, or at EOF after the SIGINT below.
        for line in proc.stdout:
            if line.startswith("BENCH_STOPPED"):
                # wrk's main thread sleeps out the whole -d even when the load thread stopped
                # (BENCH_STOP_AFTER); SIGINT ends that sleep, and done() still reports.
                proc.send_signal(signal.SIGINT)
            elif line.startswith("BENCH_RESULT "):
                result = json.loads(line.removeprefix("BENCH_RESULT "))
            else:
                output.append(line.strip())
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if result is None:
        raise BenchError(f"wrk gave no result (exit {proc.returncode}): {output[-3:]}")
    return result


def measure(cpus: Cpus, server: Server, workload: Workload, label: str, seconds: int) -> Row:
    progress(f"{workload.name} {label}: measuring {seconds} s")
    watch = CpuWatch(server.proc.pid)
    result = run_wrk(cpus, server.port, workload, seconds)
    return Row(
        workload.name,
        label,
        rps=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=result["errors"],
        non_2xx=result["non_2xx"],
        others_cpu=watch.others_share(),
    )


def warm(cpus: Cpus, port: int, workload: Workload, label: str, seconds: float) -> None:
    if seconds >= 1:  # wrk takes whole seconds
        progress(f"{workload.name} {label}: warm-up {round(seconds)} s")
        run_wrk(cpus, port, workload, round(seconds))


def wait_quiet(args: argparse.Namespace) -> None:
    """Wait, up to --wait-quiet seconds, for other processes to leave the CPUs idle."""
    started = time.monotonic()
    waited = False
    while time.monotonic() - started < args.wait_quiet and (busy := cpu_busy(1.0)) > NOISY:
        if not waited:
            progress(f"the CPUs are {busy:.0%} busy: waiting up to {args.wait_quiet:.0f} s")
            waited = True
        time.sleep(2.0)
    if waited:
        progress(f"waited {time.monotonic() - started:.0f} s")


def noisy(share: float | None) -> bool:
    return share is not None and share > NOISY


def bench_target(
    args: argparse.Namespace,
    cpus: Cpus,
    results: Results,
    target: Target,
    workload: Workload,
    warmup: int,
    long_label: str | None = None,
) -> None:
    """Start `target` with `workload`'s stubs, check, warm up, measure; with `long_label`, keep
    warming until --long-warmup seconds of load and measure again (WireMock's JIT). A run that
    other processes disturbed is repeated from a fresh start, up to --retries times."""
    label = target.label
    try:
        for attempt in range(args.retries + 1):
            wait_quiet(args)
            rows = bench_target_once(args, cpus, target, workload, warmup, long_label)
            if attempt == args.retries or not any(noisy(row.others_cpu) for row in rows):
                break
            progress(f"{workload.name} {label}: other processes were busy; measuring again")
        results.rows.extend(rows)
    except NotSupported as exc:
        if not workload.may_be_unsupported:
            progress(f"{workload.name} {label}: FAILED: {exc}")
            results.failed = True
            results.rows.append(Row(workload.name, label, note=f"FAILED: {exc}"))
        else:
            progress(f"{workload.name} {label}: not supported yet ({exc})")
            results.rows.append(Row(workload.name, label, note=f"not supported yet ({exc})"))
    except (BenchError, OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
        progress(f"{workload.name} {label}: FAILED: {exc}")
        results.failed = True
        results.rows.append(Row(workload.name, label, note=f"FAILED: {exc}"))


def bench_target_once(
    args: argparse.Namespace,
    cpus: Cpus,
    target: Target,
    workload: Workload,
    warmup: int,
    long_label: str | None,
) -> list[Row]:
    port = free_port()
    label = target.label
    rows = []
    cmd = target.start(workload, port)
    with Server(f"{workload.name} {label}", cmd, port, cpus, args.work / "logs") as server:
        server.wait_healthy(target.health_path or workload.path)
        check_body(port, workload, bare=target.health_path is None)
        warm(cpus, port, workload, label, warmup)
        rows.append(measure(cpus, server, workload, label, args.duration))
        if long_label is not None and args.long_warmup > 0:
            # The first measurement's load counts toward the long warm-up.
            warm(cpus, port, workload, long_label, args.long_warmup - warmup - args.duration)
            rows.append(measure(cpus, server, workload, long_label, args.duration))
    return rows


def bench_startup(args: argparse.Namespace, cpus: Cpus, results: Results, target: Target) -> None:
    """Spawn to the first successful mocked response, --startup-runs times; RSS right after."""
    workload = w1()
    startup = Startup(target.label)
    results.startups.append(startup)
    bare = target.health_path is None

    def answered() -> bool:
        check_body(port, workload, bare)
        return True

    try:
        # run 0 is not measured: it fills the bytecode cache, as an installation would have
        for run in range(args.startup_runs + 1):
            for attempt in range(args.retries + 1):
                wait_quiet(args)
                port = free_port()
                cmd = target.start(workload, port)
                logs = args.work / "logs"
                with Server(f"startup {target.label}", cmd, port, cpus, logs) as server:
                    watch = CpuWatch(server.proc.pid)
                    # A refused connection is "not yet"; a wrong body is a failure, not a retry.
                    seconds = server.wait_until(answered)
                    rss = server.rss_mib()
                if run == 0 or attempt == args.retries or not noisy(watch.others_share()):
                    break
            if run:
                startup.seconds.append(seconds)
                startup.rss_mib.append(rss)
        progress(f"start-up {target.label}: {startup.seconds}")
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        progress(f"start-up {target.label}: FAILED: {exc}")
        results.failed = True
        startup.note = f"FAILED: {exc}"


def fill_headers(port: int) -> dict[str, str]:
    """Headers that make each fill request W5_REQUEST_BYTES long on the wire, like an SDK's."""
    headers = {
        "User-Agent": "Stripe/v1 PythonBindings/11.4.0",
        "Accept": "application/json",
        "Authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "Idempotency-Key": "8a1f6c2e-5b7d-4e0a-9c3b-2f6d1e7a9b40",
    }
    size = len(f"GET {W5_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n")
    size += sum(len(f"{name}: {value}\r\n") for name, value in headers.items())
    padding = W5_REQUEST_BYTES - size - len("X-Trace-Id: \r\n")
    headers["X-Trace-Id"] = "t" * max(padding, 1)
    return headers


def bench_journal(
    args: argparse.Namespace,
    cpus: Cpus,
    results: Results,
    target: Target,
    count_body: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    """W5: fill the journal with --journal-entries requests over four stubbed paths, then time the
    count query for one path and compare RSS before and after."""
    workload = w1()
    journal = Journal(target.label)
    results.journals.append(journal)
    port = free_port()
    try:
        with Server(
            f"W5 {target.label}", target.start(workload, port), port, cpus, args.work / "logs"
        ) as server:
            server.wait_healthy(target.health_path or workload.path)
            check_body(port, workload, bare=False)
            journal.rss_before_mib = server.rss_mib()
            progress(f"W5 {target.label}: recording {args.journal_entries:,} requests")
            fill = {
                "BENCH_PATHS": ",".join(W5_FILL_PATHS),
                "BENCH_STOP_AFTER": str(args.journal_entries),
                "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in fill_headers(port).items()),
            }
            bound = max(60, args.journal_entries // 500)  # the fill stops itself; this is a bound
            run_wrk(cpus, port, workload, bound, fill)
            journal.entries = count(port, count_body({}))
            journal.rss_after_mib = server.rss_mib()
            for _ in range(args.retries + 1):
                wait_quiet(args)
                watch = CpuWatch(server.proc.pid)
                journal.count_ms = []
                for _ in range(COUNT_RUNS):
                    started = time.perf_counter()
                    journal.matching = count(port, count_body({"path": W5_PATH}))
                    journal.count_ms.append((time.perf_counter() - started) * 1000)
                if not noisy(watch.others_share()):
                    break
        if not journal.entries or journal.entries < args.journal_entries:
            raise BenchError(f"journal holds {journal.entries} entries after the fill")
        if not journal.matching:
            raise BenchError(f"count for {W5_PATH} is {journal.matching}")
    except (BenchError, OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
        progress(f"W5 {target.label}: FAILED: {exc}")
        results.failed = True
        journal.note = f"FAILED: {exc}"


def count(port: int, matcher: dict[str, str]) -> int:
    status, body = request(
        port, "POST", "/__admin/requests/count", json.dumps(matcher).encode(), timeout=60
    )
    if status != 200:
        raise BenchError(f"count answered {status}: {body[:160]!r}")
    value: int = json.loads(body)["count"]
    return value


def mockserver_count(matcher: dict[str, str]) -> dict[str, str]:
    return matcher


def wiremock_count(matcher: dict[str, str]) -> dict[str, str]:
    # WireMock's request pattern needs a method; "url" is its exact path-and-query match.
    return {"method": "ANY", **({"url": matcher["path"]} if "path" in matcher else {})}


# ---------------------------------------------------------------------------------------------
# Report


def fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def find_row(results: Results, workload: str, server: str) -> Row | None:
    for row in results.rows:
        if row.workload == workload and row.server == server and row.rps is not None:
            return row
    return None


def ratio(a: Row | None, b: Row | None) -> float | None:
    return a.rps / b.rps if a and b and a.rps and b.rps else None


def best_w0(results: Results) -> Row | None:
    """The fastest of the issue's W0 responders (aiohttp's, each building a Response)."""
    bare = [
        row
        for row in results.rows
        if row.workload == "W0" and row.rps is not None and row.server != WRITTEN_LABEL
    ]
    return max(bare, key=lambda row: row.rps or 0.0, default=None)


def ratio_notes(results: Results, row: Row, labels: Labels) -> str:
    notes = []
    top = best_w0(results)
    w0_ratio = ratio(row, top)
    if w0_ratio and (row.workload == "W0" or (row.workload == "W1" and row.server == "mockserver")):
        notes.append(f"{w0_ratio:.2f}x best W0")
    if row.server == "mockserver" and row.workload != "W0":
        for label in (labels.short, labels.long):
            if (other := ratio(row, find_row(results, row.workload, label))) is not None:
                notes.append(f"{other:.2f}x {label}")
    if row.workload == "W2" and (w := ratio(row, find_row(results, "W1", row.server))):
        notes.append(f"{w:.2f}x own W1")
    return " · ".join(notes)


@dataclass(frozen=True)
class Labels:
    short: str
    long: str
    no_journal: str


def throughput_table(results: Results, labels: Labels) -> str:
    rows = []
    for row in results.rows:
        if row.rps is None:
            rows.append([row.workload, row.server, row.note, "", "", "", "", ""])
            continue
        rows.append(
            [
                row.workload,
                row.server,
                fmt(row.rps),
                fmt(row.p50_ms, ".2f"),
                fmt(row.p99_ms, ".2f"),
                f"{row.errors} / {row.non_2xx}",
                ratio_notes(results, row, labels),
                fmt(row.others_cpu, ".0%"),
            ]
        )
    header = ["workload", "server", "req/s", "p50 ms", "p99 ms", "errors / non-2xx", "ratios"]
    return table([*header, "other CPU"], rows)


def startup_table(results: Results) -> str:
    rows = [
        [
            s.server,
            s.note or fmt(s.median_s and s.median_s * 1000, ",.0f", " ms"),
            fmt(s.median_rss_mib, ".1f", " MiB"),
            ", ".join(f"{x * 1000:.0f}" for x in s.seconds),
        ]
        for s in results.startups
    ]
    return table(["server", "start-up (median)", "RSS after first response", "runs, ms"], rows)


def journal_table(results: Results) -> str:
    rows = [
        [
            j.server,
            j.note or fmt(j.entries),
            fmt(j.matching),
            fmt(statistics.median(j.count_ms) if j.count_ms else None, ".1f", " ms"),
            fmt(j.rss_before_mib, ".1f", " MiB"),
            fmt(j.rss_after_mib, ".1f", " MiB"),
            fmt(j.bytes_per_entry, ",.0f", " B"),
        ]
        for j in results.journals
    ]
    header = ["server", "entries", "matching", "count query (median)", "RSS before", "RSS after"]
    return table([*header, "RSS per entry"], rows)


def targets_table(results: Results, labels: Labels) -> str:
    rows: list[list[str]] = []

    def add(name: str, value: float | None, goal: str, met: bool | None, spec: str) -> None:
        mark = "n/a" if met is None else ("met" if met else "**missed**")
        if goal == "for information":
            mark = ""
        rows.append([name, fmt(value, spec), goal, mark])

    def at_least(name: str, value: float | None, goal: float) -> None:
        add(name, value, f"≥ {goal}x", None if value is None else value >= goal, ".2f")

    mock = {w: find_row(results, w, "mockserver") for w in ("W1", "W2", "W3", "W4")}
    for w in ("W1", "W3"):
        at_least(f"{w} ÷ {labels.short}", ratio(mock[w], find_row(results, w, labels.short)), 1.5)
        if labels.long:
            at_least(f"{w} ÷ {labels.long}", ratio(mock[w], find_row(results, w, labels.long)), 1.0)
    at_least("W1 ÷ fastest W0", ratio(mock["W1"], best_w0(results)), 0.75)
    written = ratio(mock["W1"], find_row(results, "W0", WRITTEN_LABEL))
    add("W1 ÷ W0 bytes written (same write path)", written, "for information", None, ".2f")
    at_least("W2 ÷ W1", ratio(mock["W2"], mock["W1"]), 0.9)
    for w, row in mock.items():
        peers = [find_row(results, w, label) for label in (labels.short, labels.long)]
        peer_p99 = [p.p99_ms for p in peers if p and p.p99_ms is not None]
        p99 = row.p99_ms if row else None
        bound = min([5.0, *peer_p99])
        goal = f"≤ 5 ms and ≤ WireMock's ({min(peer_p99):.2f} ms)" if peer_p99 else "≤ 5 ms"
        add(f"{w} p99 ms at {CONNECTIONS} connections", p99, goal, p99 and p99 <= bound, ".2f")
    starts = {s.server: s for s in results.startups}
    mock_start, bare_start = starts.get("mockserver"), starts.get("aiohttp web")
    floor_start = starts.get(FLOOR_LABEL)
    if mock_start and bare_start and mock_start.median_s and bare_start.median_s:
        times_bare = mock_start.median_s / bare_start.median_s
        add("start-up ÷ bare aiohttp", times_bare, "for information", None, ".2f")
    if mock_start and floor_start and mock_start.median_s and floor_start.median_s:
        times_floor = mock_start.median_s / floor_start.median_s
        add("start-up ÷ floor", times_floor, "≤ 1.3x", times_floor <= 1.3, ".2f")
    if mock_start and floor_start:
        rss, floor_rss = mock_start.median_rss_mib, floor_start.median_rss_mib
        above = None if rss is None or floor_rss is None else rss - floor_rss
        add("idle RSS above the floor, MiB", above, "≤ 15 MiB", above and above <= 15, ".1f")
    for j in results.journals:
        if j.server == "mockserver":
            count_ms = statistics.median(j.count_ms) if j.count_ms else None
            goal = f"≤ 30 ms at {fmt(j.entries)} entries"
            add("W5 count query, ms", count_ms, goal, count_ms and count_ms <= 30, ".1f")
            per = j.bytes_per_entry
            add("W5 RSS per journal entry, B", per, "≤ 1 KB", per and per <= 1024, ",.0f")
    return table(["target", "value", "goal", ""], rows)


def versions(jar: Path | None) -> list[str]:
    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    def first_line(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return "not found"
        return (done.stdout + done.stderr).strip().splitlines()[0]

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- machine: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}",
        f"- Python {platform.python_version()}, aiohttp {package('aiohttp')}, "
        f"uvloop {package('uvloop')}, mockserver {package('mockserver')} "
        f"(git {first_line(['git', '-C', str(HERE.parent), 'describe', '--always', '--dirty'])})",
        f"- {first_line(['wrk', '-v'])}",
        f"- {first_line(['java', '-version'])}, WireMock {jar.name if jar else 'skipped'}",
    ]


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs' time spent busy over `seconds`, before we load them."""
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def report(args: argparse.Namespace, results: Results, labels: Labels, jar: Path | None) -> str:
    parts = [
        "## Setup",
        *versions(jar),
        # Anything else running on these two cores skews every figure: say so in the report.
        f"- before the run, other processes kept the CPUs {args.busy_before:.0%} busy; "
        f"load average (1 min) at start {args.load_before}, at end {load_average()}",
        f"- command: `{' '.join(['python', 'bench/run.py', *args.argv])}`",
        f"- wrk: 1 thread, {CONNECTIONS} connections, {args.duration} s per measurement after "
        f"{args.warmup} s of warm-up; server on CPU {args.cpus.server}, "
        f"wrk on CPU {args.cpus.load}",
        "",
        "## Throughput and latency",
        throughput_table(results, labels),
        "",
        "non-2xx: wrk counts responses with a status ≥ 400. other CPU: the share of both CPUs "
        "that processes other than the server, wrk and this script used during the measurement; "
        f"above {NOISY:.0%} the row is not to be trusted.",
        "",
        f"## W5: journal at {args.journal_entries:,} requests of {W5_REQUEST_BYTES} bytes",
        journal_table(results),
        "",
        "## Start-up: spawn to first mocked response",
        startup_table(results),
        "",
        "## Targets (issue 7)",
        targets_table(results, labels),
    ]
    if results.skipped:
        parts += ["", "## Skipped", *(f"- {reason}" for reason in results.skipped)]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    parser.add_argument(
        "--long-warmup", type=int, default=30, help="WireMock's steady state: seconds of load"
    )
    parser.add_argument("--journal-entries", type=int, default=100_000, help="W5 journal size")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s per workload, no warm-up, W5 with 2,000 entries, start-up once",
    )
    parser.add_argument(
        "--workloads",
        type=lambda text: set(text.split(",")),
        default=set(ALL_PARTS),
        help=f"comma-separated subset of {','.join(ALL_PARTS)} (default: all)",
    )
    parser.add_argument("--skip-wiremock", action="store_true")
    parser.add_argument(
        "--mockserver",
        type=shlex.split,
        help="command that runs mockserver's CLI (default: the `mockserver` console script)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60,
        metavar="S",
        help="before each measurement, wait up to S seconds for other processes to leave the "
        "CPUs idle (default 60)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a measurement disturbed by other processes is repeated (default 2)",
    )
    parser.add_argument("--require-all", action="store_true", help="a missing tool is an error")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--work", type=Path, default=JAR_DIR, help="scratch: stubs and logs")
    args = parser.parse_args(argv)
    if unknown := args.workloads - set(ALL_PARTS):
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if args.quick:  # its values, except where an option was given explicitly
        quick = {"duration": 1, "warmup": 0, "long_warmup": 0, "journal_entries": 2000}
        quick |= {"startup_runs": 1, "retries": 0, "wait_quiet": 0}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    args.argv = argv
    return args


def choose_cpus() -> Cpus:
    allowed = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset") is not None
    if not taskset or len(allowed) < 2:
        progress("taskset or a second CPU missing: server and wrk are not pinned apart")
    cpus = Cpus(allowed[0], allowed[1] if len(allowed) > 1 else allowed[0], taskset)
    # The runner's polling must not steal the server's core.
    os.sched_setaffinity(0, {cpus.load})
    return cpus


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every server this run started is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        progress("wrk not found (Debian: apt-get install wrk)")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    args.cpus = cpus = choose_cpus()
    args.load_before = load_average()
    args.busy_before = cpu_busy()
    if args.busy_before > NOISY:
        progress(f"the CPUs are {args.busy_before:.0%} busy before the run")
    results = Results()
    missing: list[str] = []

    def skip(reason: str) -> None:
        progress(reason)
        results.skipped.append(reason)
        missing.append(reason)

    bare = [bare_target("web", False), bare_target("lowlevel", False)]
    if importlib.util.find_spec("uvloop"):
        bare += [
            bare_target("web", True),
            bare_target("lowlevel", True),
            bare_target("written", True),
            bare_target("floor", True),
        ]
    else:
        skip("uvloop not installed: W0 uvloop responders skipped (pip install uvloop)")
    exe = args.mockserver or find_mockserver()
    mock = mockserver_target(exe, args.work) if exe else None
    if mock is None:
        progress("mockserver console script not found (pip install -e .)")
        results.failed = True
    jar: Path | None = None
    if not args.skip_wiremock:
        try:
            jar = find_wiremock_jar()
        except ToolMissing as exc:
            skip(str(exc))
    steady = args.long_warmup > 0
    labels = Labels(
        f"WireMock ({args.warmup} s warm-up)",
        f"WireMock ({args.long_warmup} s warm-up)" if steady else "",
        f"WireMock, no journal ({args.long_warmup} s warm-up)" if steady else "",
    )
    wiremock = wiremock_target(jar, args.work, labels.short) if jar else None
    plain_wiremock = wiremock_target(jar, args.work, "WireMock") if jar else None

    parts = args.workloads
    w0 = Workload("W0", "bare responder", "GET", "/v1/customers/cus_123", CUSTOMER, [], [])
    for target in bare if "W0" in parts else []:
        if target.label != FLOOR_LABEL:  # the same server as web + uvloop: start-up only
            bench_target(args, cpus, results, target, w0, args.warmup)
    for workload in all_workloads():
        if workload.name not in parts:
            continue
        if mock:
            bench_target(args, cpus, results, mock, workload, args.warmup)
        if wiremock:
            long_label = labels.long or None
            bench_target(args, cpus, results, wiremock, workload, args.warmup, long_label)
    if jar and args.long_warmup > 0 and "W1" in parts:
        # For reference only (the targets keep journals on): WireMock at its best.
        quiet = wiremock_target(jar, args.work, labels.no_journal, "--no-request-journal")
        bench_target(args, cpus, results, quiet, w1(), args.long_warmup)
    for target, count_body in ((mock, mockserver_count), (plain_wiremock, wiremock_count)):
        if target and "W5" in parts:
            bench_journal(args, cpus, results, target, count_body)
    floor = next((bare_one for bare_one in bare if bare_one.label == FLOOR_LABEL), None)
    for target in (mock, bare[0], floor, plain_wiremock):
        if target and "startup" in parts:
            bench_startup(args, cpus, results, target)

    results.rows.sort(key=lambda row: row.workload)  # stable: the servers keep their order
    if noisy := [row for row in results.rows if (row.others_cpu or 0) > NOISY]:
        progress(f"{len(noisy)} rows measured while other processes were busy: rerun when quiet")
    print(report(args, results, labels, jar))
    if args.json:
        raw = {
            k: v for k, v in vars(args).items() if k not in ("cpus", "work", "json", "workloads")
        }
        data = {"args": raw, **asdict(results), "cpus": asdict(cpus)}
        args.json.write_text(json.dumps(data, indent=2, default=str))
    if missing and args.require_all:
        return 2
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
