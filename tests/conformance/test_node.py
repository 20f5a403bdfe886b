"""The conformance checks with Node's built-in clients, fetch and the http module: one `node`
run (clients/client.mjs) sends the plan with each and prints what it saw as JSON lines."""

from __future__ import annotations

import pytest

from mockserver.server import RunningServer
from tests.conformance.checks import CHECKS, Check, ClientRun
from tests.conformance.conftest import assert_conforms, tool
from tests.conformance.external import CLIENTS_DIR, run_program, write_plan

CLIENTS = ["node-fetch", "node-http"]


@pytest.fixture(scope="module")
def node_runs(
    conformance_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ClientRun]:
    node = tool("node", "apt-get install -y nodejs (Node 18 or later)")
    plan = write_plan(tmp_path_factory.mktemp("node"))
    command = [node, str(CLIENTS_DIR / "client.mjs"), conformance_server.url, str(plan)]
    return run_program(command, CLIENTS, timeout=60)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    "check", [check for check in CHECKS if not check.http10], ids=lambda check: check.name
)
def test_node_client_conforms(
    conformance_server: RunningServer, node_runs: dict[str, ClientRun], client: str, check: Check
) -> None:
    assert_conforms(conformance_server, node_runs[client], check)
