"""`python -m mockserver.healthcheck`: is the mock server in this container alive?

The image's HEALTHCHECK. It reads the variables `mockserver serve` reads (MOCKSERVER_PORT,
MOCKSERVER_ADMIN_PREFIX, MOCKSERVER_TLS_CERT, MOCKSERVER_HOST), so a server moved to another
port, admin prefix or HTTPS is still probed where it listens. Exit 0 on a 2xx answer from
`{prefix}/health`, 1 otherwise with one line on stderr saying why.

Standard library only, and nothing else of mockserver: Docker runs this every few seconds, so it
must start fast, and it must not fail for a reason that is not the server's health.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# the defaults of `mockserver serve` (mockserver.cli); tests/test_container.py checks they agree
DEFAULT_PORT: Final = 8080
DEFAULT_ADMIN_PREFIX: Final = "/__admin"
TIMEOUT: Final = 2.0
"""Seconds for each step (connect, handshake, answer): below the HEALTHCHECK's --timeout."""

# a server bound to every address is probed on loopback; one bound to an address, there
_WILDCARD_HOSTS: Final = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class Unhealthy(Exception):
    """The server did not answer 2xx; the message is the reason, one line."""


@dataclass(frozen=True, slots=True)
class Probe:
    host: str
    port: int
    path: str
    tls: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"


def _env(env: Mapping[str, str], name: str) -> str:
    """As the CLI reads them: an empty variable counts as unset."""
    return env.get(f"MOCKSERVER_{name}", "").strip()


def probe_from_env(env: Mapping[str, str]) -> Probe:
    """Where the server started with this environment answers its health check."""
    raw_port = _env(env, "PORT") or str(DEFAULT_PORT)
    try:
        port = int(raw_port)
    except ValueError:
        raise Unhealthy(f"MOCKSERVER_PORT={raw_port!r} is not a port number") from None
    if not 0 < port < 65536:
        raise Unhealthy(f"MOCKSERVER_PORT={raw_port!r} is not a port number")
    # normalised as mockserver.config.Settings does: one leading slash, none trailing
    prefix = "/" + (_env(env, "ADMIN_PREFIX") or DEFAULT_ADMIN_PREFIX).strip("/")
    bound = _env(env, "HOST").split(",")[0].strip()  # a list: the first address is probed
    host = _WILDCARD_HOSTS.get(bound, bound)
    return Probe(host, port, f"{prefix}/health", tls=bool(_env(env, "TLS_CERT")))


def _insecure_context() -> ssl.SSLContext:
    # a liveness probe of our own process over loopback: the certificate is for the names the
    # clients use, not 127.0.0.1, and may be signed by a CA this image does not hold
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check(probe: Probe, timeout: float = TIMEOUT) -> int:
    """GET the health path; returns the 2xx status, raises Unhealthy otherwise."""
    connection: http.client.HTTPConnection
    if probe.tls:
        connection = http.client.HTTPSConnection(
            probe.host, probe.port, timeout=timeout, context=_insecure_context()
        )
    else:
        # http.client, not urllib: no HTTP_PROXY detour, no redirect followed
        connection = http.client.HTTPConnection(probe.host, probe.port, timeout=timeout)
    try:
        connection.request("GET", probe.path, headers={"Accept": "application/json"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:  # refused, timed out, TLS, garbage
        reason = str(error) or type(error).__name__
        raise Unhealthy(f"{probe.url}: {reason}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise Unhealthy(f"{probe.url}: HTTP {status}")
    return status


def main(env: Mapping[str, str] | None = None) -> int:
    try:
        probe = probe_from_env(os.environ if env is None else env)
        status = check(probe)
    except Unhealthy as error:
        print(f"mockserver unhealthy: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    print(f"mockserver healthy: {probe.url}: HTTP {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
