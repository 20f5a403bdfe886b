"""Fixtures for the order service's integration tests: the service, pointed at the mock server.

`mockserver` is mockserver's pytest fixture: a server started in this process with the project's
stubs/ (the stub packs), or the sidecar at MOCKSERVER_URL. Either way `mockserver.url` is where
the service's API base URLs point.

With ORDERS_URL set, the service already runs on its own (docker-compose.test.yml's `app`
container), its base URLs fixed when it started. The tests then place orders there, and
MOCKSERVER_NAMESPACE must name the namespace in those base URLs, so that `mockserver` looks
where the service's requests land. That service may still be starting (installing its SDKs): the
first test waits for its health endpoint, as mockserver's fixture waits for the sidecar's, so
the tests need not rely on compose's `depends_on: condition: service_healthy`, which
podman-compose ignores below podman 4.6.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from mockserver import MockServerClient

APP_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(APP_DIR))  # examples/orders: the `orders` package

ORDERS_URL_ENV: Final = "ORDERS_URL"
NAMESPACE_ENV: Final = "MOCKSERVER_NAMESPACE"
READY_TIMEOUT_ENV: Final = "ORDERS_READY_TIMEOUT"
READY_TIMEOUT: Final = 180.0
"""Seconds to wait for the service at ORDERS_URL to answer GET /health: it installs its SDKs
when its container starts (docker-compose.test.yml's `app` allows it as long)."""

if TYPE_CHECKING:
    from orders import Settings


@pytest.fixture
def settings(mockserver: MockServerClient) -> Settings:
    """Settings of a service calling the mock in this test's namespace (`mockserver.url`)."""
    from orders import Settings  # imported late: the test module skips first without the SDKs

    return Settings.for_mock(mockserver.url)


@pytest.fixture
def app(settings: Settings, mockserver: MockServerClient) -> Iterator[str]:
    """The service's HTTP API calling the mock server; yields its URL.

    By default, the service on a free port in this process. With ORDERS_URL, the one running
    there: `mockserver` (which this fixture asks for, so the namespace is reset before the test
    places an order) must then be in the namespace its base URLs carry.
    """
    external = os.environ.get(ORDERS_URL_ENV)
    if external:
        _check_pinned(mockserver)
        yield _wait_until_up(external.rstrip("/"))
        return

    from orders import OrderService
    from orders.web import running

    with running(OrderService(settings)) as url:
        yield url


def _check_pinned(mockserver: MockServerClient) -> None:
    pinned = os.environ.get(NAMESPACE_ENV)
    if not pinned or mockserver.namespace != pinned:
        pytest.fail(
            f"{ORDERS_URL_ENV} is set: the service there has fixed base URLs, "
            f"http://<mock>/~<namespace>/stripe..., so set {NAMESPACE_ENV} to that namespace "
            f"(the mockserver fixture is in {mockserver.namespace!r})",
            pytrace=False,
        )


_UP: set[str] = set()


def _wait_until_up(url: str) -> str:
    """Poll `url`/health until it answers 2xx (once per session); fail after READY_TIMEOUT."""
    if url in _UP:
        return url
    timeout = float(os.environ.get(READY_TIMEOUT_ENV) or READY_TIMEOUT)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with direct.open(f"{url}/health", timeout=5):
                _UP.add(url)
                return url
        except (OSError, urllib.error.HTTPError) as error:
            if time.monotonic() > deadline:
                pytest.fail(f"{url}/health did not answer within {timeout:.0f} s: {error}")
        time.sleep(0.2)  # the poll interval
