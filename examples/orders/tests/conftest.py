"""Fixtures for the order service's integration tests: the service, pointed at the mock server.

`mockserver` is mockserver's pytest fixture: a server started in this process with the project's
stubs/ (the stub packs), or the sidecar at MOCKSERVER_URL. Either way `mockserver.url` is where
the service's API base URLs point.

With ORDERS_URL set, the service already runs on its own (docker-compose.test.yml's `app`
container), its base URLs fixed when it started. The tests then place orders there, and
MOCKSERVER_NAMESPACE must name the namespace in those base URLs, so that `mockserver` looks
where the service's requests land.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from mockserver import MockServerClient

APP_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(APP_DIR))  # examples/orders: the `orders` package

ORDERS_URL_ENV: Final = "ORDERS_URL"
NAMESPACE_ENV: Final = "MOCKSERVER_NAMESPACE"

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
        yield external.rstrip("/")
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
