"""`mockserver import har`: a HAR file as Chromium's developer tools export it (HTTP/2
pseudo-headers, decoded bodies under a `content-encoding` header, base64 images, a request the
browser blocked, a body left out of the export) becomes one stub file per upstream service,
and the stubs answer the recorded requests with the recorded answers.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import httpx
import yaml

from mockserver.config import Settings
from mockserver.server import start_in_thread

COMMAND: Final = [sys.executable, "-m", "mockserver.cli"]
HAR: Final = Path(__file__).resolve().parent / "data" / "chromium-export.har"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_chromium_har_imports_per_service_and_answers_as_recorded(tmp_path: Path) -> None:
    out = tmp_path / "stubs"

    done = run("import", "har", str(HAR), "-o", str(out))

    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        f"{HAR}: log.entries[5].response.status: 0: no answer was recorded: entry left out",
        f"{HAR}: log.entries[6].response.content.text: the 112-byte body was not exported: "
        "the stub answers with no body",
        "mockserver: 2 parts not translated (listed above)",
    ]
    assert sorted(path.name for path in out.glob("*.yaml")) == [
        "example.yaml",
        "github.yaml",
        "githubusercontent.yaml",
    ]
    assert run("validate", str(out)).returncode == 0
    written = "".join(path.read_text() for path in out.glob("*.yaml"))
    for secret in ("ghp_", "s3cr3t", "n3w"):
        assert secret not in written
    github = yaml.safe_load((out / "github.yaml").read_text())
    stubs = {stub["id"]: stub for stub in github["stubs"]}
    assert stubs["github:get-repos-octo-hello"]["request"] == {
        "method": "GET",
        "path": "/repos/octo/hello",
        "query": {"per_page": "2"},
        "headers": {"authorization": {"present": True}},
    }
    headers = stubs["github:get-repos-octo-hello"]["response"]["headers"]
    assert "content-encoding" not in headers  # the export holds the decoded body
    assert "date" not in headers
    assert headers["x-github-request-id"] == "C0DE:1234:5678:9ABC:6743"
    assert stubs["github:post-repos-octo-hello-issues"]["request"]["body"] == {
        "json": {"title": "Found a bug", "labels": ["bug"]}
    }

    entries = json.loads(HAR.read_text())["log"]["entries"]
    server = start_in_thread(Settings(stubs=(out,), port=0))
    try:
        with httpx.Client(base_url=server.url) as client:
            repo = client.get(
                "/github/repos/octo/hello?per_page=2", headers={"Authorization": "token x"}
            )
            issue = client.post(
                "/github/repos/octo/hello/issues",
                json={"title": "Found a bug", "labels": ["bug"]},
                headers={"Authorization": "token x"},
            )
            avatar = client.get("/githubusercontent/u/583231?v=4")
            login = client.post(
                "/example/session",
                data={"user": "ann", "remember": "1"},
                headers={"Cookie": "session=x"},  # the recorded request carried a cookie
            )
            unauthenticated = client.get("/github/repos/octo/hello?per_page=2")
    finally:
        server.stop()
    assert (repo.status_code, repo.json()) == (
        200,
        json.loads(entries[0]["response"]["content"]["text"]),
    )
    assert (issue.status_code, issue.headers["location"]) == (
        201,
        "https://api.github.com/repos/octo/hello/issues/1347",
    )
    png = base64.b64decode(entries[3]["response"]["content"]["text"])
    assert (avatar.status_code, avatar.content, avatar.headers["content-type"]) == (
        200,
        png,
        "image/png",
    )
    assert (login.status_code, login.headers["location"]) == (303, "/dashboard")
    assert login.headers["set-cookie"] == "REDACTED"
    assert unauthenticated.status_code == 404  # the recorded request carried a credential


def test_a_file_that_is_not_har_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "session.har"
    bad.write_text('{"log": {"version": "1.2", "entries": [\n  {"request": }\n]}}')
    other = tmp_path / "other.har"
    other.write_text('{"version": 1}')

    broken = run("import", "har", str(bad), "-o", str(tmp_path / "out"))
    wrong = run("import", "har", str(other), "-o", str(tmp_path / "out"))

    assert broken.returncode == wrong.returncode == 1
    assert broken.stderr == f"mockserver: error: {bad}:2: not JSON: Expecting value (column 15)\n"
    assert wrong.stderr == f"mockserver: error: {other}: not a HAR file: no 'log.entries' list\n"
    assert not (tmp_path / "out").exists()


def test_an_event_stream_imports_as_sse_events_and_streams_on_replay(tmp_path: Path) -> None:
    stream = 'data: {"delta":"Hel"}\n\ndata: {"delta":"lo"}\n\nevent: done\ndata: [DONE]\n\n'
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2026-12-03T10:00:00.000Z",
                    "time": 120,
                    "request": {
                        "method": "GET",
                        "url": "https://api.example.com/v1/stream",
                        "httpVersion": "HTTP/1.1",
                        "headers": [],
                        "queryString": [],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {
                        "status": 200,
                        "statusText": "OK",
                        "httpVersion": "HTTP/1.1",
                        "headers": [{"name": "Content-Type", "value": "text/event-stream"}],
                        "cookies": [],
                        "content": {
                            "size": len(stream),
                            "mimeType": "text/event-stream",
                            "text": stream,
                        },
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": -1,
                    },
                    "cache": {},
                    "timings": {"send": 0, "wait": 100, "receive": 20},
                }
            ],
        }
    }
    source = tmp_path / "stream.har"
    source.write_text(json.dumps(har))
    out = tmp_path / "stubs"

    done = run("import", "har", str(source), "-o", str(out))

    assert done.returncode == 0, done.stderr
    (stub,) = yaml.safe_load((out / "example.yaml").read_text())["stubs"]
    assert stub["response"]["sse"] == {
        "events": [
            {"data": {"delta": "Hel"}},
            {"data": {"delta": "lo"}},
            {"event": "done", "data": "[DONE]"},
        ]
    }
    assert run("validate", str(out)).returncode == 0
    server = start_in_thread(Settings(stubs=(out,), port=0))
    try:
        with (
            httpx.Client(base_url=server.url) as client,
            client.stream("GET", "/example/v1/stream") as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            received = "".join(response.iter_text())
    finally:
        server.stop()
    assert received == (
        'data: {"delta":"Hel"}\n\ndata: {"delta":"lo"}\n\nevent: done\ndata: [DONE]\n\n'
    )
