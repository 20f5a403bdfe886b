"""The stub packs' SDK tests: each test declares the pack stubs it calls, and proves they answered.

`@pytest.mark.pack_stubs("stripe-create-charge", ...)` names the pack stubs a test calls through
an official SDK. After the test (before the plugin's reset) the journal must show each of them
answering at least once, or the test errors. `test_coverage.py` then checks that the tests
collected in this directory declare every stub of every pack: together, every pack stub has a hit
in a test that passed. Both checks hold per test, so they work under pytest-xdist and in any order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver import MockServerClient

PACK_STUBS_MARKER = "pack_stubs"
DESELECTED_HERE = pytest.StashKey[bool]()
"""Whether this run deselected a test of this directory (then coverage cannot be judged)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{PACK_STUBS_MARKER}(*ids): the stub-pack stubs this test calls through an SDK; "
        "each must have answered by the end of the test",
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.config.stash[DESELECTED_HERE] = True


def declared_stubs(item: pytest.Item) -> set[str]:
    return {
        str(stub_id) for marker in item.iter_markers(PACK_STUBS_MARKER) for stub_id in marker.args
    }


def answered(client: MockServerClient) -> list[str | None]:
    """The stub id that answered each request of this test, oldest first (None: unmatched)."""
    return [entry.stub_id for entry in client.requests()]


@pytest.fixture(autouse=True)
def _declared_stubs_answered(request: pytest.FixtureRequest) -> Iterator[None]:
    declared = declared_stubs(request.node)
    if not declared:
        yield
        return
    client: MockServerClient = request.getfixturevalue("mockserver")
    yield
    # runs before the mockserver fixture's reset: the journal still holds this test's requests;
    # an `unmatched: true` stub answers without matching, so it shows in the hit counts only
    hit = {stub["id"] for stub in client.stubs() if stub.get("hits")}
    missing = sorted(declared - {stub_id for stub_id in answered(client) if stub_id} - hit)
    if missing:
        received = "\n".join(f"  {entry.describe()}" for entry in client.requests())
        pytest.fail(
            f"declared pack stubs that never answered: {', '.join(missing)}\n"
            f"received:\n{received or '  nothing'}",
            pytrace=False,
        )
