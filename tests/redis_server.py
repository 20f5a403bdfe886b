"""A real `redis-server` for the tests of the shared state: started on a free port in a temporary
directory (no persistence), ready once it answers PING, stopped at the end of the session.

A missing binary skips the tests that need it locally and fails them under CI=true, where
`.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"
MISSING = "redis-server not installed (Debian: apt-get install redis-server)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(directory: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free port (or on `port`: one started again where it was); its
    process and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail(f"{MISSING}; CI=true, so a missing tool is a failure")
        pytest.skip(MISSING)
    port = free_port() if port is None else port
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
    process = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not _answers_ping(port):  # each attempt blocks until refused or answered: no sleep
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"redis-server did not start: {err.decode(errors='replace')[-2000:]}")
    return process, f"redis://127.0.0.1:{port}/0"


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server of this test session."""
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        stop_redis(process)


def unique_prefix() -> str:
    """A key prefix no other test uses: tests share the server, never keys."""
    return f"test-{uuid.uuid4().hex}:"
