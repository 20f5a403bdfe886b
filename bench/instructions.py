"""Instructions per mocked request and to start up, counted by callgrind: an A/B that holds on a
busy machine.

    python bench/instructions.py [--base REV] [--workloads W1,W2,W3,W4] [--requests N]
                                 [--state redis://HOST:PORT/DB] [--concurrency N]

Wall-clock figures (bench/run.py) need idle CPUs; instruction counts do not: valgrind's callgrind
counts what the server process executes, whatever else the machine runs, so two trees can be
compared while other work goes on. For each workload, the server under the working tree (B) and
under `--base` (A, a git revision checked out in a scratch worktree) answers `--requests`
requests one after another on one kept-alive connection; only those are counted (callgrind's
instrumentation is switched on after a warm-up). Start-up is counted from the first instruction
to the first mocked answer, beside the floor of the stack (bench/responders.py `floor`: an
aiohttp app on uvloop that imports pydantic and PyYAML and defines one model); idle RSS after
the first answer is read without valgrind. Prints a Markdown table. Needs valgrind (Debian).
With `--state`, the servers keep their state in that Redis (a key prefix of their own each run):
the request path of a replica, one request at a time (start-up is not counted then). With
`--concurrency N`, N requests are in flight at once, each on a connection of its own: what a
request costs under load, where a Redis replica's requests share round trips.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import yaml
from workloads import Workload, all_workloads

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
WARM_UP: Final = 200
READY_TIMEOUT_S: Final = 300.0  # start-up under callgrind is ~50 times slower


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.02)  # polling a process that is starting: no event to wait on
    raise RuntimeError("the server did not answer in time")


def answers(port: int, path: str) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return bool(response.status == 200)


def callgrind_total(out: Path) -> int:
    total = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def mockserver_command(tree: Path, stubs: Path, port: int, *flags: str) -> list[str]:
    code = "from mockserver.cli import main; main()"
    serve = ["serve", "--stubs", str(stubs), "--port", str(port), *flags]
    # -P: not the current directory first on sys.path, or run from a checkout, both trees would
    # import its code rather than their own (PYTHONPATH)
    return [sys.executable, "-P", "-c", code, *serve]


def environment(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}


def exchange(connection: http.client.HTTPConnection, workload: Workload) -> None:
    """One request of the workload, its answer read whole; anything but 200 stops the run."""
    body = workload.body or None
    connection.request(workload.method, workload.path, body=body, headers=workload.headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{workload.name}: answered {response.status}")


def in_flight(port: int, workload: Workload, requests: int, concurrency: int) -> None:
    """`requests` requests, `concurrency` at a time (a connection each): under load, a Redis
    replica's requests of one event-loop turn share their round trips."""

    def send(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for _ in range(count):
            exchange(connection, workload)
        connection.close()

    with ThreadPoolExecutor(concurrency) as pool:
        shares = [requests // concurrency] * concurrency
        for finished in [pool.submit(send, share) for share in shares]:
            finished.result()


def per_request(
    tree: Path,
    workload: Workload,
    requests: int,
    scratch: Path,
    state: str | None = None,
    concurrency: int = 1,
) -> float:
    """Instructions per request, the warm-up excluded."""
    stubs = scratch / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "bench.yaml").write_text(yaml.safe_dump(workload.stubs, sort_keys=False))
    port, out = free_port(), scratch / "requests.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    flags = [] if state is None else ["--state", state, "--state-prefix", f"{uuid.uuid4().hex}:"]
    server = subprocess.Popen(
        [*valgrind, *mockserver_command(tree, stubs, port, *flags)],
        env=environment(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(port, "/__admin/health"))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def one() -> None:
            exchange(connection, workload)

        for _ in range(WARM_UP):
            one()
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, text=True)
        if concurrency == 1:
            for _ in range(requests):
                one()
        else:
            in_flight(port, workload, requests, concurrency)
        subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True)
        dump = ["callgrind_control", "-d", str(server.pid)]
        subprocess.run(dump, check=True, stdout=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait()
    return callgrind_total(out) / (requests // concurrency * concurrency)


def start_up(command: list[str], env: dict[str, str], port: int, path: str, scratch: Path) -> int:
    """Instructions from the first one to the first answer on `path`."""
    out = scratch / "startup.out"
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    server = subprocess.Popen(
        [*valgrind, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: answers(port, path))
        dump = ["callgrind_control", "-d", str(server.pid)]
        subprocess.run(dump, check=True, stdout=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait()
    return callgrind_total(out)


def idle_rss_mib(command: list[str], env: dict[str, str], port: int, path: str) -> float:
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: answers(port, path))
        status = Path(f"/proc/{server.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kib / 1024
    finally:
        server.terminate()
        server.wait()


def checkout(revision: str, scratch: Path) -> Path:
    tree = scratch / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True,
        capture_output=True,
    )
    return tree


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="git revision to compare with (A); default: none")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--state", help="a Redis URL: count a replica's request path on it")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (a connection each; default 1: one at a time)",
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    wanted = args.workloads.split(",")
    workloads = [workload for workload in all_workloads() if workload.name in wanted]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        trees = {"B (this tree)": ROOT}
        if args.base:
            trees = {f"A ({args.base})": checkout(args.base, scratch), **trees}
        try:
            print("| workload | " + " | ".join(trees) + " | B ÷ A |")
            print("|---|" + "---|" * len(trees) + "---|")
            for workload in workloads:
                counts = [
                    per_request(
                        tree, workload, args.requests, scratch, args.state, args.concurrency
                    )
                    for tree in trees.values()
                ]
                ratio = f"{counts[-1] / counts[0]:.3f}" if len(counts) > 1 else ""
                cells = " | ".join(f"{count:,.0f}" for count in counts)
                print(f"| {workload.name} instructions/request | {cells} | {ratio} |", flush=True)
            print()
            if args.state:
                return 0
            w1 = next(workload for workload in all_workloads() if workload.name == "W1")
            stubs = scratch / "w1"
            stubs.mkdir()
            (stubs / "bench.yaml").write_text(yaml.safe_dump(w1.stubs, sort_keys=False))
            port = free_port()
            floor_start = start_up(floor_command(port), dict(os.environ), port, w1.path, scratch)
            port = free_port()
            floor_rss = idle_rss_mib(floor_command(port), dict(os.environ), port, w1.path)
            print(
                "| start-up to the first answer | instructions | ÷ floor | idle RSS | above floor |"
            )
            print("|---|---|---|---|---|")
            print(f"| floor | {floor_start:,} | 1.00 | {floor_rss:.1f} MiB | |")
            for label, tree in trees.items():
                port = free_port()
                command = mockserver_command(tree, stubs, port)
                count = start_up(command, environment(tree), port, w1.path, scratch)
                rss_port = free_port()
                rss = idle_rss_mib(
                    mockserver_command(tree, stubs, rss_port), environment(tree), rss_port, w1.path
                )
                print(
                    f"| mockserver {label} | {count:,} | {count / floor_start:.2f} "
                    f"| {rss:.1f} MiB | {rss - floor_rss:+.1f} MiB |",
                    flush=True,
                )
        finally:
            if args.base:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(scratch / "base"),
                    ],
                    check=False,
                    capture_output=True,
                )
    return 0


def floor_command(port: int) -> list[str]:
    """The floor of the stack (bench/responders.py `floor` on uvloop) on `port`."""
    return [sys.executable, str(HERE / "responders.py"), "floor", "--uvloop", "--port", str(port)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
