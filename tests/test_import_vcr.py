"""`mockserver import vcr`: cassettes written by vcrpy itself, recording real requests to a
loopback upstream, become stubs that answer those requests as the upstream did.

The upstream is a small real HTTP server; vcrpy records `requests` calls to it; the import
writes stub files; mockserver serves them and the same calls, sent to it, get the same answers.
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import requests
import vcr
import yaml

from mockserver.config import Settings
from mockserver.server import start_in_thread

COMMAND: Final = [sys.executable, "-m", "mockserver.cli"]
PNG: Final = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))
SECRET: Final = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"


class Upstream(http.server.BaseHTTPRequestHandler):
    """A stand-in API: JSON, form bodies, gzip, binary, and an answer that changes per call."""

    polls = 0

    def do_GET(self) -> None:
        if self.path.startswith("/v1/customers"):
            self.reply(200, {"object": "list", "data": [{"id": "cus_1"}]}, request_id="req_1")
        elif self.path == "/v1/jobs/job_1":
            Upstream.polls += 1
            status = "done" if Upstream.polls >= 3 else "running"
            self.reply(200, {"id": "job_1", "status": status})
        elif self.path == "/logo.png":
            self.raw(200, PNG, "image/png")
        elif self.path == "/readme":
            body = gzip.compress(b"plain text\nsecond line\n")
            self.raw(200, body, "text/plain; charset=utf-8", encoding="gzip")
        else:
            self.reply(404, {"error": {"message": f"no {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        if self.path == "/v1/charges":
            self.reply(201, {"id": "ch_1", "echo": body}, cookie="session=abc123")
        else:
            self.reply(200, {"received": sorted(json.loads(body))})

    def reply(
        self, status: int, payload: Any, request_id: str | None = None, cookie: str | None = None
    ) -> None:
        extra = {"Request-Id": request_id} if request_id else {}
        if cookie:
            extra["Set-Cookie"] = cookie
        self.raw(status, json.dumps(payload).encode(), "application/json", **extra)

    def raw(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if "encoding" in headers:
            self.send_header("Content-Encoding", headers.pop("encoding"))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    Upstream.polls = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def calls(base: str, other: str) -> list[requests.Response]:
    """What the application under test sends; `other` is a second upstream host."""
    auth = {"Authorization": f"Bearer {SECRET}"}
    session = requests.Session()
    return [
        session.get(f"{base}/v1/customers", params={"limit": "3", "email": "a@b.c"}, headers=auth),
        session.post(
            f"{base}/v1/charges", data={"amount": "2000", "currency": "usd"}, headers=auth
        ),
        session.post(f"{base}/v1/things", json={"name": "x", "api_key": SECRET, "n": [1, 2]}),
        session.get(f"{base}/v1/jobs/job_1"),
        session.get(f"{base}/v1/jobs/job_1"),
        session.get(f"{base}/v1/jobs/job_1"),
        session.get(f"{base}/logo.png"),
        session.get(f"{base}/readme"),
        session.get(f"{base}/missing"),
        session.get(f"{other}/v1/customers", params={"limit": "1"}),
    ]


def record(cassette: Path, port: int) -> list[requests.Response]:
    with vcr.use_cassette(str(cassette), record_mode="once"):
        return calls(f"http://127.0.0.1:{port}", f"http://localhost:{port}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_vcrpy_cassettes_import_into_stubs_that_answer_as_recorded(
    tmp_path: Path, upstream: int
) -> None:
    cassette = tmp_path / "cassettes" / "api.yaml"
    recorded = record(cassette, upstream)
    assert yaml.safe_load(cassette.read_text())["interactions"]  # vcrpy really wrote it
    out = tmp_path / "stubs"

    done = run("import", "vcr", str(cassette), "-o", str(out), "--service", "shop=127.0.0.1")

    assert done.returncode == 0, done.stderr
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()) == [
        "__files/shop/get-logo-png.png",
        "localhost.yaml",
        "shop.yaml",
    ]
    checked = run("validate", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    written = "".join(path.read_text() for path in out.glob("*.yaml"))
    assert SECRET not in written
    assert "abc123" not in written  # Set-Cookie is a credential: REDACTED
    shop = yaml.safe_load((out / "shop.yaml").read_text())
    assert (shop["service"], shop["base_path"]) == ("shop", "/shop")
    stubs = {stub["id"]: stub for stub in shop["stubs"]}
    customers = stubs["shop:get-v1-customers"]
    assert customers["request"] == {
        "method": "GET",
        "path": "/v1/customers",
        "query": {"limit": "3", "email": "a@b.c"},
        "headers": {"Authorization": {"present": True}},
    }
    assert "Date" not in customers["response"]["headers"]
    assert customers["response"]["headers"]["Request-Id"] == "req_1"
    assert stubs["shop:post-v1-charges"]["request"]["body"] == {
        "form": {"amount": "2000", "currency": "usd"}
    }
    assert stubs["shop:post-v1-charges"]["response"]["headers"]["Set-Cookie"] == "REDACTED"
    assert stubs["shop:post-v1-things"]["request"]["body"] == {
        "json": {"name": "x", "n": [1, 2]},
        "json_path": {"$['api_key']": {"present": True}},
    }
    jobs = stubs["shop:get-v1-jobs-job-1"]
    assert [answer["json"]["status"] for answer in jobs["responses"]] == [
        "running",
        "running",
        "done",
    ]
    assert stubs["shop:get-readme"]["response"]["body"] == "plain text\nsecond line\n"

    # the same calls, sent to mockserver serving the import, get the recorded answers
    server = start_in_thread(Settings(stubs=(out,), port=0))
    try:
        replayed = calls(f"{server.url}/shop", f"{server.url}/localhost")
    finally:
        server.stop()
    for before, after in zip(recorded, replayed, strict=True):
        assert (after.request.method, after.status_code) == (
            before.request.method,
            before.status_code,
        )
        assert after.content == before.content or after.json() == before.json()
        assert after.headers["Content-Type"] == before.headers["Content-Type"]


def test_the_same_cassette_imports_to_the_same_bytes(tmp_path: Path, upstream: int) -> None:
    cassette = tmp_path / "api.yaml"
    record(cassette, upstream)

    first, second = tmp_path / "first", tmp_path / "second"
    assert run("import", "vcr", str(cassette), "-o", str(first)).returncode == 0
    assert run("import", "vcr", str(cassette), "-o", str(second)).returncode == 0

    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # the default service names: the host's name, made path-safe
    assert {path.name for path in first.glob("*.yaml")} == {"127-0-0-1.yaml", "localhost.yaml"}


def test_an_interaction_missing_its_uri_is_reported_and_the_rest_written(tmp_path: Path) -> None:
    cassette = tmp_path / "broken.yaml"
    cassette.write_text(
        "interactions:\n"
        "- request: {method: GET, uri: 'https://api.stripe.com/v1/balance', body: null,"
        " headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ok}}\n"
        "- request: {method: GET, body: null, headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ok}}\n"
        "version: 1\n"
    )

    done = run("import", "vcr", str(cassette), "-o", str(tmp_path / "out"))

    assert done.returncode == 3
    assert f"{cassette}: interactions[1].request.uri: None is not an absolute URL" in done.stderr
    assert yaml.safe_load((tmp_path / "out" / "stripe.yaml").read_text())["stubs"][0]["id"] == (
        "stripe:get-v1-balance"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("interactions:\n- request: {method: GET\n", ":3: not YAML: "),
        ("recorded_with: something else\n", ": not a vcrpy cassette: no 'interactions' list"),
    ],
    ids=["bad-yaml", "not-a-cassette"],
)
def test_a_file_that_is_not_a_cassette_is_one_error_and_nothing_written(
    tmp_path: Path, content: str, message: str
) -> None:
    cassette = tmp_path / "bad.yaml"
    cassette.write_text(content)

    done = run("import", "vcr", str(cassette), "-o", str(tmp_path / "out"))

    assert done.returncode == 1
    assert done.stderr.startswith(f"mockserver: error: {cassette}{message}"), done.stderr
    assert not (tmp_path / "out").exists()
