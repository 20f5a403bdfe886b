"""mockserver's container, started from a test with testcontainers-python.

```python
from mockserver.testing import MockServerContainer

def test_checkout():
    with MockServerContainer(stubs="tests/stubs") as mock:
        shop = Shop(payments_url=f"{mock.url}/payments")
        shop.checkout(cart)
        mock.client().verify(method="POST", path="/payments/v1/charges")
```

Needs the `testcontainers` extra (`pip install 'mockserver[testcontainers]'`), a Docker API (a
Docker engine, or podman's `podman system service`) and the image (default `mockserver:latest`,
built from the repository's Dockerfile: `docker build -t mockserver .`). The server runs in the
container: this module imports mockserver's client only, and the package's top level does not
import this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Self

from testcontainers.core.container import DockerContainer

from mockserver.client import DEFAULT_ADMIN_PREFIX, AdminError, JsonObject, MockServerClient

__all__ = ["DEFAULT_IMAGE", "MockServerContainer", "MockServerContainerError"]

DEFAULT_IMAGE: Final = "mockserver:latest"
PORT: Final = 8080
"""Where the server listens in the container (the image's MOCKSERVER_PORT and EXPOSE)."""
STUBS_DIR: Final = "/stubs"
"""The image's stub directory (MOCKSERVER_STUBS): a `stubs` directory is mounted over it."""
READY_TIMEOUT: Final = 30.0
_POLL_INTERVAL: Final = 0.05


class MockServerContainerError(RuntimeError):
    """The container stopped before its server answered; the message holds its log."""


class MockServerContainer(DockerContainer):
    """The mock server's image as a testcontainers container.

    Args:
        image: the image to run.
        stubs: a stub directory on this machine, mounted read-only over the image's `/stubs`
            (its files must be readable by the image's unprivileged user: `chmod -R a+rX`).
            Without it the server has the stubs the image was built with.
        env: environment variables for the server: any `MOCKSERVER_*` setting of `serve`
            (`MOCKSERVER_ACCESS_LOG`, `MOCKSERVER_JOURNAL_LIMIT`...).
        admin_prefix: the server's admin prefix (sets `MOCKSERVER_ADMIN_PREFIX` when not the
            default), used by `client()` and the readiness poll.
        ready_timeout: seconds `start()` waits for the server's health endpoint.
        **kwargs: passed to testcontainers' `DockerContainer`.

    `start()` (or `with`) returns once `GET {admin_prefix}/health` answers, polled from this
    process at the mapped port; a container that exits first raises `MockServerContainerError`
    with its log. `url` is the base URL for the application under test; `client()` a client of
    the admin API.
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        stubs: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        admin_prefix: str = DEFAULT_ADMIN_PREFIX,
        ready_timeout: float = READY_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.admin_prefix = admin_prefix
        self.ready_timeout = ready_timeout
        self.with_exposed_ports(PORT)
        if stubs is not None:
            directory = Path(stubs).resolve()
            if not directory.is_dir():
                raise ValueError(f"the stub directory {stubs} does not exist")
            self.with_volume_mapping(str(directory), STUBS_DIR, "ro")
        if admin_prefix != DEFAULT_ADMIN_PREFIX:
            self.with_env("MOCKSERVER_ADMIN_PREFIX", admin_prefix)
        for name, value in (env or {}).items():
            self.with_env(name, value)

    def start(self) -> Self:
        super().start()
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        """The server's base URL from this machine: http://HOST:MAPPED_PORT."""
        host = self.get_container_host_ip()
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"http://{host}:{self.get_exposed_port(PORT)}"

    def client(self, namespace: str | None = None, **options: Any) -> MockServerClient:
        """A client of the server's admin API (in `namespace`, when given)."""
        return MockServerClient(
            self.url, admin_prefix=self.admin_prefix, namespace=namespace, **options
        )

    def _wait_until_ready(self) -> JsonObject:
        """Poll the health endpoint; fail at once if the container stops first."""
        client = self.client(timeout=2.0)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                health: JsonObject = client.health()
                return health
            except (OSError, AdminError) as error:
                reason = error
            container = self.get_wrapped_container()
            container.reload()
            if container.status in ("exited", "dead"):
                out, err = self.get_logs()
                log = (out + err).decode(errors="replace").strip()
                code = container.attrs.get("State", {}).get("ExitCode")
                raise MockServerContainerError(
                    f"the mock server's container ({self.image}) exited with {code} before it "
                    f"answered:\n{log}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the mock server at {client.url} did not answer within "
                    f"{self.ready_timeout} s: {reason}"
                )
            time.sleep(_POLL_INTERVAL)
