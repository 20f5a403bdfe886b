"""The `mockserver` command as a user runs it: a subprocess, real ports, real signals."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.serving import write_stubs

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "mockserver.cli"]
READY = re.compile(r"listening on (http://\S+)")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


class Server:
    """A `mockserver serve` subprocess; `url` is known once it printed its address."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.output: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends at EOF if the server dies
            self.output.append(line)
            found = READY.search(line)
            if found:
                self.url = found.group(1)
                return
        raise AssertionError(f"server did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, "".join(self.output) + out, err


@pytest.fixture
def stubs_dir(tmp_path: Path) -> Path:
    return write_stubs(
        tmp_path / "stubs",
        {
            "pay.yaml": "- id: pay\n  request: {path: /pay}\n  response: {json: {ok: true}}\n",
            "sub/gh.yaml": "- request: {path: /a}\n- request: {path: /b}\n",
        },
    )


@pytest.fixture
def server(stubs_dir: Path) -> Iterator[Server]:
    started = Server("--stubs", str(stubs_dir), "--port", "0")
    yield started
    if started.process.poll() is None:
        started.stop()


def test_validate_the_example_stubs() -> None:
    result = run("validate", str(ROOT / "stubs"))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"ok: \d+ stubs in \d+ files\n", result.stdout)


def test_validate_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    write_stubs(
        tmp_path,
        {"a.yaml": "- request: {heders: {}}\n", "b.yaml": "- response: {status: abc}\n"},
    )
    result = run("validate", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{tmp_path}/a.yaml:1: request.heders: unknown field 'heders'; did you mean 'headers'?"
    )
    assert lines[1].startswith(f"{tmp_path}/b.yaml:1: ")
    assert lines[-1] == "mockserver: 3 stub errors"


def test_schema_accepts_the_example_stubs_and_rejects_a_misspelt_field() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    validator = jsonschema.validators.validator_for(schema)(schema)
    documents = [
        document
        for path in sorted((ROOT / "stubs").rglob("*.y*ml"))
        if "__files" not in path.parts
        for document in yaml.safe_load_all(path.read_text())
    ]
    assert documents
    for document in documents:
        validator.validate(document)
    assert not validator.is_valid([{"request": {"heders": {}}}])


def test_serve_prints_stubs_per_file_and_the_address(server: Server, stubs_dir: Path) -> None:
    assert server.get("/__admin/health")["stubs"] == 3
    with urllib.request.urlopen(server.url + "/pay", timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True}
    code, out, err = server.stop()
    assert code == 0, err
    assert f"loaded    1 stub  from {stubs_dir}/pay.yaml" in out
    assert f"loaded    2 stubs from {stubs_dir}/sub/gh.yaml" in out
    assert "mockserver stopped" in out
    assert "Traceback" not in err


def test_port_in_use_is_one_line_and_exit_2(stubs_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--stubs", str(stubs_dir), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr == f"mockserver: error: port {port} on 127.0.0.1 is already in use\n"


def test_missing_stub_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run("serve", "--stubs", str(tmp_path / "nope"), "--port", "0")
    assert result.returncode == 2
    assert result.stderr == f"mockserver: error: stub directory not found: {tmp_path}/nope\n"


def test_a_state_that_is_neither_memory_nor_redis_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run("serve", "--stubs", str(tmp_path), "--port", "0", env={"MOCKSERVER_STATE": "x"})
    assert result.returncode == 2
    assert "--state must be 'memory' or a Redis URL (redis://HOST:PORT/DB), got 'x'" in (
        result.stderr
    )


def test_serve_refuses_bad_stubs_with_their_errors(tmp_path: Path) -> None:
    write_stubs(tmp_path, {"a.yaml": "- request: {path: nope}\n"})
    result = run("serve", "--stubs", str(tmp_path), "--port", "0")
    assert result.returncode == 1
    assert f"{tmp_path}/a.yaml:1: request.path: path 'nope' must start with '/'" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_variables_configure_serve(tmp_path: Path, stubs_dir: Path) -> None:
    other = write_stubs(tmp_path / "more", {"x.yaml": "- request: {path: /x}\n"})
    started = Server(
        env={
            "MOCKSERVER_STUBS": f"{stubs_dir}:{other}",
            "MOCKSERVER_PORT": "0",
            "MOCKSERVER_ADMIN_PREFIX": "/_mock",
            "MOCKSERVER_JOURNAL_LIMIT": "2",
        }
    )
    try:
        assert started.get("/_mock/health")["stubs"] == 4
        for _ in range(3):
            urllib.request.urlopen(started.url + "/x", timeout=10).close()
        assert started.get("/_mock/health")["dropped"] == 1
    finally:
        code, _, err = started.stop()
    assert code == 0, err


def test_sigterm_lets_in_flight_requests_finish_and_journals_the_cut_ones(
    stubs_dir: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "journal.jsonl"
    started = Server(
        "--stubs", str(stubs_dir), "--port", "0", "--shutdown-grace", "5",
        "--journal-dump", str(dump),
    )  # fmt: skip
    host, port = started.url.removeprefix("http://").split(":")

    def partial(path: str) -> socket.socket:
        connection = socket.create_connection((host, int(port)), timeout=10)
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345".encode()
        )
        return connection

    finishing, never = partial("/pay"), partial("/never")
    started.get("/__admin/health")  # both partial requests reached their handlers by now
    started.process.send_signal(signal.SIGTERM)
    finishing.sendall(b"67890")  # completes inside the grace period
    reply = finishing.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200")
    out, err = started.process.communicate(timeout=20)
    never.close()
    finishing.close()
    assert started.process.returncode == 0, err
    entries = [json.loads(line) for line in dump.read_text().splitlines()]
    by_path = {entry["path"]: entry for entry in entries}
    assert by_path["/pay"]["status"] == 200
    assert by_path["/never"]["status"] == 499
    assert "cut" in by_path["/never"]["error"]
    assert f"journal: 2 entries written to {dump}" in out


def test_watch_reloads_changed_files_and_keeps_the_old_set_on_errors(stubs_dir: Path) -> None:
    started = Server("--stubs", str(stubs_dir), "--port", "0", "--watch")
    errors: queue.Queue[str] = queue.Queue()
    assert started.process.stderr is not None
    threading.Thread(
        target=lambda: [errors.put(line) for line in started.process.stderr],
        daemon=True,  # type: ignore[union-attr]
    ).start()
    try:
        assert started.get("/__admin/health")["stubs"] == 3
        (stubs_dir / "new.yaml").write_text("- id: added\n  request: {path: /added}\n")
        deadline = time.monotonic() + 30
        while started.get("/__admin/health")["stubs"] != 4:  # poll until the reload lands
            assert time.monotonic() < deadline, "the change was not picked up"
            time.sleep(0.05)
        (stubs_dir / "pay.yaml").write_text("- request: {heders: {}}\n")
        line = ""
        while "reload failed" not in line:
            line = errors.get(timeout=30)
            if "pay.yaml:1: request.heders" in line:
                seen_error = line
        assert "unknown field 'heders'" in seen_error
        assert started.get("/__admin/health")["stubs"] == 4
        with urllib.request.urlopen(started.url + "/pay", timeout=10) as response:
            assert response.status == 200
    finally:
        code, _, _ = started.stop()
    assert code == 0


def test_access_log_lines_as_json(stubs_dir: Path) -> None:
    started = Server(
        "--stubs", str(stubs_dir), "--port", "0", "--access-log", "--log-format", "json"
    )  # fmt: skip
    with urllib.request.urlopen(started.url + "/pay", timeout=10) as response:
        assert response.status == 200
    code, _, err = started.stop()
    assert code == 0
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "mockserver.access"]
    assert len(access) == 1
    assert {key: access[0][key] for key in ("method", "path", "status", "stub_id")} == {
        "method": "GET",
        "path": "/pay",
        "status": 200,
        "stub_id": "pay",
    }
    assert access[0]["ms"] >= 0


def test_no_access_log_by_default(server: Server) -> None:
    with urllib.request.urlopen(server.url + "/pay", timeout=10) as response:
        assert response.status == 200
    code, _, err = server.stop()
    assert code == 0
    assert "mockserver.access" not in err


def test_help_lists_every_serve_flag() -> None:
    result = run("serve", "--help")
    for flag in (
        "--stubs", "--host", "--port", "--admin-prefix", "--journal-limit",
        "--journal-max-bytes", "--max-body", "--journal-dump", "--shutdown-grace", "--log-level",
        "--watch", "--access-log", "--log-format", "--admin-token", "--tls-cert", "--tls-key",
        "--tls-client-ca", "--client-timeout", "--max-namespaces", "--state", "--state-prefix",
        "--max-line-size", "--max-field-size", "--max-headers",
        "--env", "--callback-limit", "--callback-allow",
    ):  # fmt: skip
        assert flag in result.stdout


def test_the_log_thread_starts_at_the_first_record_and_flushes_at_exit() -> None:
    # a server that logs nothing runs no log thread; the first record starts it, and what is
    # queued is still written when the process ends
    code = (
        "import logging, sys, threading\n"
        "from mockserver import logs\n"
        "logs.configure('info', 'json')\n"
        "before = threading.active_count(), 'logging.handlers' in sys.modules\n"
        "for n in range(3):\n"
        "    logging.getLogger('mockserver').warning('record %d', n)\n"
        "print(*before, threading.active_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["1", "False", "2"]
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [record["message"] for record in records] == ["record 0", "record 1", "record 2"]


def test_serve_imports_the_server_with_the_collector_paused_then_frozen() -> None:
    # the import-time objects leave the collector's sight; it runs again for what comes after
    code = (
        "import gc, sys\n"
        "from mockserver import cli\n"
        "assert 'mockserver.server' not in sys.modules\n"
        "cli._import_server()\n"
        "loaded = 'mockserver.server' in sys.modules\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 10_000, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["True", "True", "True"]


def test_env_flags_and_variables_reach_callback_templates(stubs_dir: Path) -> None:
    got: list[tuple[str, dict[str, str]]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, dict(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    started = Server(
        "--stubs", str(stubs_dir), "--port", "0",
        "--env", f"HOOK=http://127.0.0.1:{hook.server_port}/hook", "--env", "MODE=flag",
        "--callback-allow", "hooks.internal:8443", "--callback-limit", "4",
        env={"MOCKSERVER_ENV_TOKEN": "t0k", "MOCKSERVER_ENV_MODE": "variable"},
    )  # fmt: skip
    try:
        body = {"url": "{{ env.HOOK }}", "headers": {"X-Token": "{{ env.TOKEN }}-{{ env.MODE }}"}}
        request = urllib.request.Request(
            started.url + "/__admin/callbacks",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        deadline = time.monotonic() + 10
        while not started.get("/__admin/callbacks")["callbacks"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (attempt,) = started.get("/__admin/callbacks")["callbacks"]
        assert attempt["status"] == 204
        assert got[0][0] == "/hook"
        assert got[0][1]["X-Token"] == "t0k-flag"
    finally:
        code, _, err = started.stop()
        hook.shutdown()
        hook.server_close()
    assert code == 0, err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--env", "NOVALUE"], "--env takes KEY=VALUE, got 'NOVALUE'"),
        (["--callback-allow", "http://x"], "--callback-allow takes HOST or HOST:PORT"),
        (["--callback-limit", "0"], "callback_limit must be at least 1"),
    ],
    ids=["env", "allow", "limit"],
)
def test_bad_callback_flags_are_one_line_and_exit_2(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    result = run("serve", "--stubs", str(tmp_path), "--port", "0", *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
