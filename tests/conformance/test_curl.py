"""The conformance checks with curl: one process per check (HTTP/1.0 ones included, with
`--http1.0`), `-F` for the multipart form, the head and body read from files curl writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mockserver.server import RunningServer
from tests.conformance.checks import CHECKS, Check, ClientRun, Observation
from tests.conformance.conftest import assert_conforms, namespace_url, tool

CLIENT = "curl"


def with_curl(curl: str, base: str, check: Check, work: Path) -> Observation:
    head, body, sent = work / f"{check.name}.head", work / f"{check.name}.body", work / "sent"
    command = [curl, "-sS", "-X", check.method, "-D", str(head), "-o", str(body)]
    command += ["--max-time", "10"]
    if check.http10:
        command.append("--http1.0")
    for name, value in check.sent_headers():
        if not (check.form and name == "Content-Type"):  # -F writes its own, with its boundary
            command += ["-H", f"{name}: {value}"]
    if check.form:
        for item in check.form:
            if item.value is not None:
                command += ["--form-string", f"{item.name}={item.value}"]
            else:
                upload = work / (item.filename or "upload")
                upload.write_bytes(item.data)
                command += ["-F", f"{item.name}=@{upload};type={item.content_type}"]
    elif check.body:
        sent.write_bytes(check.body)
        command += ["--data-binary", f"@{sent}"]
    command.append(base + check.path)
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"curl exited {done.returncode}: {done.stderr.strip()}")
    status_line, *lines = head.read_bytes().decode("latin-1").split("\r\n")
    version, status = status_line.split()[:2]  # "HTTP/1.0 200 OK"
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Observation(int(status), headers, body.read_bytes(), version.removeprefix("HTTP/"))


@pytest.fixture(scope="module")
def curl_run(
    conformance_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> ClientRun:
    curl = tool("curl", "apt-get install -y curl")
    work = tmp_path_factory.mktemp("curl")
    run = ClientRun(CLIENT)
    for check in run.checks(http10=True):
        try:
            run.observed[check.name] = with_curl(
                curl, namespace_url(conformance_server, CLIENT), check, work
            )
        except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as error:
            run.failed[check.name] = str(error)
    return run


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.name)
def test_curl_conforms(
    conformance_server: RunningServer, curl_run: ClientRun, check: Check
) -> None:
    assert_conforms(conformance_server, curl_run, check)
