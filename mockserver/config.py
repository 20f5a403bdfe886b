"""Settings: one frozen value built from CLI flags and MOCKSERVER_* variables.

Pure: reading flags and the environment is the CLI's job; this module only holds and checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mockserver.redaction import Redaction

DEFAULT_PORT: Final = 8080
DEFAULT_JOURNAL_LIMIT: Final = 100_000
DEFAULT_JOURNAL_MAX_BYTES: Final = 256 * 1024 * 1024
DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024
DEFAULT_MAX_NAMESPACES: Final = 256
DEFAULT_STATE_PREFIX: Final = "mockserver:"
DEFAULT_CALLBACK_LIMIT: Final = 64
_ALLOWED_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([1-9][0-9]{0,4}))?")
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
_RECORD_MODES: Final = ("none", "once", "new_episodes", "all")
_SERVICE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Settings:
    """How one server runs. `port=0` picks a free port (tests, the in-process fixture)."""

    stubs: tuple[Path, ...] = field(default_factory=lambda: (Path("stubs"),))
    host: str = "127.0.0.1"
    hosts: tuple[str, ...] = ()
    """Every address to listen on (`--host` given several times), on the same port; empty:
    `host` alone. When given, `host` is its first."""
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
    max_line_size: int = 8190
    """The longest request line (method, target, version) read; longer gets 414."""
    max_field_size: int = 8190
    """The longest header line read; longer gets 431."""
    state: str = "memory"
    """Where the state lives: "memory", or the URL of a Redis that replicas share."""
    state_prefix: str = DEFAULT_STATE_PREFIX
    """The prefix of every Redis key (replicas that share state share it)."""
    cors: bool = False
    """Answer browsers' CORS preflights and add CORS headers to every mocked answer."""
    env: tuple[tuple[str, str], ...] = ()
    """What templates read as `env` (--env KEY=VALUE, MOCKSERVER_ENV_KEY)."""
    callback_limit: int = DEFAULT_CALLBACK_LIMIT
    """Callbacks being delivered at once; more wait for a slot."""
    callback_allow: tuple[str, ...] = ()
    """HOST[:PORT]s besides loopback that callbacks added through the admin API may target."""
    record: tuple[tuple[str, str], ...] = ()
    """(service, upstream URL) pairs of `--record SERVICE=URL`: served under /SERVICE."""
    record_mode: str = "new_episodes"
    """The mode of the `--record` services: none, once, new_episodes, all (vcrpy's)."""
    record_dir: Path | None = None
    """Where recordings are written as each exchange ends (None: kept in memory only)."""
    redact_headers: tuple[str, ...] = ()
    redact_query: tuple[str, ...] = ()
    redact_json: tuple[str, ...] = ()
    """What recorded files and journal dumps hide beyond the defaults (PRODUCT.md §11)."""

    def redaction(self) -> Redaction:
        """The rules for what leaves the process as a file: the defaults and the --redact-*
        additions (recordings, journal dumps, reports)."""
        rules = Redaction.default()
        if self.redact_headers or self.redact_query or self.redact_json:
            rules = rules.adding(
                headers=self.redact_headers, query=self.redact_query, json_paths=self.redact_json
            )
        return rules

    def __post_init__(self) -> None:
        if self.hosts:
            object.__setattr__(self, "host", self.hosts[0])
        prefix = "/" + self.admin_prefix.strip("/")
        if prefix == "/":
            raise ValueError("admin prefix must not be '/': the mocked surface needs the root")
        object.__setattr__(self, "admin_prefix", prefix)
        for name in (
            "journal_limit", "journal_max_bytes", "max_body", "max_namespaces",
            "max_headers", "max_line_size", "max_field_size", "callback_limit",
        ):  # fmt: skip
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
        for entry in self.callback_allow:
            found = _ALLOWED_HOST.fullmatch(entry)
            if found is None or int(found[2] or 1) > 65535:
                raise ValueError(f"--callback-allow takes HOST or HOST:PORT, got {entry!r}")
        if self.record_mode not in _RECORD_MODES:
            raise ValueError(
                f"--record-mode must be one of {', '.join(_RECORD_MODES)}, got {self.record_mode!r}"
            )
        for service, url in self.record:
            if not _SERVICE_NAME.fullmatch(service):
                raise ValueError(
                    f"--record {service}={url}: the service name may hold only letters, digits, "
                    "_ and - (it is the path prefix /SERVICE)"
                )
            if not url.startswith(("http://", "https://")) or url.endswith("://"):
                raise ValueError(f"--record {service}={url}: the target is not an http(s) URL")
        if self.admin_token is not None and not self.admin_token:
            raise ValueError("the admin token must not be empty")

    @property
    def listen_on(self) -> tuple[str, ...]:
        """The addresses the server listens on, the first one first."""
        return self.hosts or (self.host,)


def env_from(environ: Mapping[str, str], pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Template `env` from `MOCKSERVER_ENV_<KEY>` variables and `KEY=VALUE` flags (flags win):
    {"MOCKSERVER_ENV_APP_URL": "http://app"}, ["MODE=test"] -> (("APP_URL", "http://app"),
    ("MODE", "test")).

    Raises:
        ValueError: a flag without `=` or with an empty key.
    """
    env = {
        name.removeprefix(_ENV_VARIABLE): value
        for name, value in sorted(environ.items())
        if name.startswith(_ENV_VARIABLE) and len(name) > len(_ENV_VARIABLE)
    }
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return tuple(env.items())


_ENV_VARIABLE: Final = "MOCKSERVER_ENV_"
