"""mockserver: a mock server for third-party HTTP APIs.

The package's top level is the client side only (the pytest plugin imports it in every test
session): nothing here imports aiohttp or the server's modules.
"""

from __future__ import annotations

from mockserver.client import (
    AdminError,
    AsyncMockServerClient,
    JournalEntry,
    MockServerClient,
    NearMiss,
    VerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "AdminError",
    "AsyncMockServerClient",
    "JournalEntry",
    "MockServerClient",
    "NearMiss",
    "VerificationError",
    "__version__",
]
