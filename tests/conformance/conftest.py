"""The conformance suite's server (one for the session, `--cors` on, every client in its own
namespace), the journal read through the admin API, and the external tools it needs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.conformance.checks import STUBS, Check, ClientRun
from tests.serving import write_stubs


@pytest.fixture(scope="session")
def conformance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    stubs = write_stubs(tmp_path_factory.mktemp("conformance") / "stubs", {"conf.yaml": STUBS})
    running = start_in_thread(Settings(stubs=(stubs,), port=0, cors=True))
    yield running
    running.stop()


def tool(name: str, install: str) -> str:
    """The path of an external tool; a skip naming the install command when it is missing, a
    failure under CI=true (CI installs it: .ci/run)."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed: {install}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    return found


def journal_by_check(server: RunningServer, namespace: str) -> dict[str, list[dict[str, Any]]]:
    """The namespace's journal entries, grouped by their X-Check header."""
    answer = requests.get(f"{server.url}/__admin/ns/{namespace}/requests", timeout=10)
    answer.raise_for_status()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in answer.json()["requests"]:
        grouped.setdefault(entry["headers"].get("x-check", "?"), []).append(entry)
    return grouped


def assert_conforms(server: RunningServer, run: ClientRun, check: Check) -> None:
    """What the client observed meets the check, and the server journaled the request once."""
    if check.name in run.failed:
        pytest.fail(f"{run.client} could not run {check.name}: {run.failed[check.name]}")
    assert check.name in run.observed, f"{run.client} reported nothing for {check.name}"
    check.expect(run.observed[check.name])
    entries = journal_by_check(server, run.client).get(check.name, [])
    assert len(entries) == 1, f"{check.name} journaled {len(entries)} times in {run.client}"
    check.journal(entries[0])


def namespace_url(server: RunningServer, client: str) -> str:
    return f"{server.url}/~{client}"
