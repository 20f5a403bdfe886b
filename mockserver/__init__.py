"""mockserver: a mock server for third-party HTTP APIs.

The package's top level is the client side only (the pytest plugin imports it in every test
session): nothing here imports aiohttp or the server's modules. The client's names are loaded on
first use, so running the server (`mockserver serve`, which imports `mockserver.cli`) does not pay
for the client and `urllib.request`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.client import (
        AdminError,
        AsyncMockServerClient,
        JournalEntry,
        MockServerClient,
        MockServerClientError,
        NearMiss,
        VerificationError,
    )

__version__ = "0.1.0"

__all__ = [
    "AdminError",
    "AsyncMockServerClient",
    "JournalEntry",
    "MockServerClient",
    "MockServerClientError",
    "NearMiss",
    "VerificationError",
    "__version__",
]

_CLIENT_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """`mockserver.MockServerClient` and `from mockserver import ...`: import the client then."""
    if name in _CLIENT_NAMES:
        value = getattr(importlib.import_module("mockserver.client"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
