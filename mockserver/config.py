"""Settings: one frozen value built from CLI flags and MOCKSERVER_* variables.

Pure: reading flags and the environment is the CLI's job; this module only holds and checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DEFAULT_PORT: Final = 8080
DEFAULT_JOURNAL_LIMIT: Final = 100_000
DEFAULT_JOURNAL_MAX_BYTES: Final = 256 * 1024 * 1024
DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024
DEFAULT_MAX_NAMESPACES: Final = 256
DEFAULT_STATE_PREFIX: Final = "mockserver:"
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class Settings:
    """How one server runs. `port=0` picks a free port (tests, the in-process fixture)."""

    stubs: tuple[Path, ...] = field(default_factory=lambda: (Path("stubs"),))
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    admin_prefix: str = "/__admin"
    journal_limit: int = DEFAULT_JOURNAL_LIMIT
    journal_max_bytes: int = DEFAULT_JOURNAL_MAX_BYTES
    max_body: int = DEFAULT_MAX_BODY
    max_namespaces: int = DEFAULT_MAX_NAMESPACES
    journal_dump: Path | None = None
    journal_report: Path | None = None
    """Where to write the journal as an HTML report on shutdown (`--journal-dump PATH.html`)."""
    shutdown_grace: float = 1.0
    watch: bool = False
    log_level: str = "info"
    access_log: bool = False
    admin_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    client_timeout: float = 30.0
    max_headers: int = 100
    max_header_bytes: int = 8190
    state: str = "memory"
    """Where the state lives: "memory", or the URL of a Redis that replicas share."""
    state_prefix: str = DEFAULT_STATE_PREFIX
    """The prefix of every Redis key (replicas that share state share it)."""

    def __post_init__(self) -> None:
        prefix = "/" + self.admin_prefix.strip("/")
        if prefix == "/":
            raise ValueError("admin prefix must not be '/': the mocked surface needs the root")
        object.__setattr__(self, "admin_prefix", prefix)
        for name in ("journal_limit", "journal_max_bytes", "max_body", "max_namespaces"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.shutdown_grace < 0:
            raise ValueError(f"shutdown_grace must not be negative, got {self.shutdown_grace}")
        if self.client_timeout <= 0:
            raise ValueError(f"client_timeout must be positive, got {self.client_timeout}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        if self.state != "memory" and not self.state.startswith(_REDIS_SCHEMES):
            raise ValueError(
                "--state must be 'memory' or a Redis URL (redis://HOST:PORT/DB), "
                f"got {self.state!r}"
            )
        if self.admin_token is not None and not self.admin_token:
            raise ValueError("the admin token must not be empty")
