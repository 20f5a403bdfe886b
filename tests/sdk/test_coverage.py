"""Every stub of every pack is called through its official SDK by some test of this directory.

Each SDK test declares the pack stubs it calls (`@pytest.mark.pack_stubs`) and fails unless the
journal shows each of them answering (conftest.py). This test checks the declarations against
the stubs the server has loaded: a pack stub no test declares fails here, and so does a declared
id that no pack has (a typo would otherwise hide an untested stub). It reads only the collected
tests and the admin API, so it holds under pytest-xdist and in any order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver import MockServerClient
from tests.sdk.conftest import DESELECTED_HERE, declared_stubs

PACKS = {
    "stripe": "/stripe",
    "github": "/github",
    "slack": "/slack",
    "openai": "/openai",
    "s3": "/s3",
}
HERE = Path(__file__).parent


def test_every_pack_stub_is_called_by_an_sdk_test(
    request: pytest.FixtureRequest, mockserver: MockServerClient
) -> None:
    items = [item for item in request.session.items if item.path.parent == HERE]
    modules = sorted(path.name for path in HERE.glob("test_*.py"))
    missing = sorted(set(modules) - {item.path.name for item in items})
    if missing or request.config.stash.get(DESELECTED_HERE, False):
        pytest.skip(
            "coverage is judged over the whole of tests/sdk; not selected: "
            + (", ".join(missing) or "some tests (deselected)")
        )

    loaded = mockserver.stubs()
    packs = {stub["id"]: stub for stub in loaded if stub.get("service") in PACKS}
    for service, base_path in PACKS.items():
        files = {
            stub["source"].rsplit(":", 1)[0]
            for stub in packs.values()
            if stub["service"] == service
        }
        assert [Path(file).name for file in files] == [f"{service}.yaml"], (service, files)
        assert {stub["base_path"] for stub in packs.values() if stub["service"] == service} == {
            base_path
        }

    declared = set().union(*(declared_stubs(item) for item in items))
    never_called = sorted(set(packs) - declared)
    assert not never_called, (
        f"pack stubs no SDK test calls: {never_called}; add a test in tests/sdk that calls each "
        "through its SDK and declares it with @pytest.mark.pack_stubs"
    )
    unknown = sorted(declared - set(packs))
    assert not unknown, f"tests declare stubs no pack has: {unknown}"
