"""The conformance checks with Java's HttpClient: one `java Client.java` run (JDK 11+ runs a
source file directly) sends the plan and prints what it saw as JSON lines. The multipart form
goes as bytes encoded here: the JDK has no multipart encoder."""

from __future__ import annotations

import pytest

from mockserver.server import RunningServer
from tests.conformance.checks import CHECKS, Check, ClientRun
from tests.conformance.conftest import assert_conforms, tool
from tests.conformance.external import CLIENTS_DIR, run_program, write_plan

CLIENT = "java"


@pytest.fixture(scope="module")
def java_run(
    conformance_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> ClientRun:
    java = tool("java", "apt-get install -y default-jdk-headless (JDK 11 or later)")
    plan = write_plan(tmp_path_factory.mktemp("java")).with_suffix(".tsv")
    command = [java, str(CLIENTS_DIR / "Client.java"), conformance_server.url, str(plan)]
    return run_program(command, [CLIENT], timeout=120)[CLIENT]


@pytest.mark.parametrize(
    "check", [check for check in CHECKS if not check.http10], ids=lambda check: check.name
)
def test_java_client_conforms(
    conformance_server: RunningServer, java_run: ClientRun, check: Check
) -> None:
    assert_conforms(conformance_server, java_run, check)
