"""The public surface: what `import mockserver` offers, and what it must not drag in."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mockserver


def test_public_names() -> None:
    assert sorted(mockserver.__all__) == [
        "AdminError",
        "AsyncMockServerClient",
        "JournalEntry",
        "MockServerClient",
        "MockServerClientError",
        "NearMiss",
        "VerificationError",
        "__version__",
    ]
    for name in mockserver.__all__:
        assert getattr(mockserver, name) is not None
    assert mockserver.__version__ == "0.1.0"
    assert issubclass(mockserver.VerificationError, AssertionError)
    # one except clause catches whatever the client raises about the server
    assert issubclass(mockserver.VerificationError, mockserver.MockServerClientError)
    assert issubclass(mockserver.AdminError, mockserver.MockServerClientError)


def test_the_client_names_are_the_client_modules() -> None:
    # loaded on first use (module __getattr__): the same objects, listed by dir(), and a
    # misspelt name is still an AttributeError (so `from mockserver import x` still fails)
    from mockserver import MockServerClient, client

    assert MockServerClient is client.MockServerClient
    for name in mockserver.__all__:
        assert name in dir(mockserver)
        if name != "__version__":
            assert getattr(mockserver, name) is getattr(client, name)
    with pytest.raises(AttributeError, match="no attribute 'MockServer'"):
        mockserver.MockServer  # noqa: B018
    with pytest.raises(ImportError):
        from mockserver import MockServer  # type: ignore[attr-defined]  # noqa: F401


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    return set(result.stdout.split())


SERVER_SIDE = {
    "aiohttp",
    "pydantic",
    "yaml",
    "jsonschema",
    "mockserver.server",
    "mockserver.app",
    "mockserver.config",
    "mockserver.loader",
    "mockserver.errors",
}


def test_import_mockserver_stays_light() -> None:
    # the pytest plugin imports it in every test session of every project that installs it
    assert _modules_after("import mockserver") & SERVER_SIDE == set()


def test_loading_the_pytest_plugin_stays_light() -> None:
    assert _modules_after("import mockserver.pytest_plugin") & SERVER_SIDE == set()


OPTIONAL = {"testcontainers", "docker", "mockserver.testing"}


def test_the_testcontainers_module_is_loaded_only_when_asked_for() -> None:
    # an optional extra: `import mockserver` and the pytest plugin never need it
    assert _modules_after("import mockserver, mockserver.pytest_plugin") & OPTIONAL == set()
    # and it speaks to the server in its container over HTTP: nothing of the server loads
    assert _modules_after("import mockserver.testing") & SERVER_SIDE == set()
