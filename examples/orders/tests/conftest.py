"""Fixtures for the order service's integration tests: the service, pointed at the mock server.

`mockserver` is mockserver's pytest fixture: a server started in this process with the project's
stubs/ (the stub packs), or the sidecar at MOCKSERVER_URL (as docker-compose.test.yml runs these
tests). Either way `mockserver.url` is where the service's API base URLs point.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mockserver import MockServerClient

APP_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(APP_DIR))  # examples/orders: the `orders` package

if TYPE_CHECKING:
    from orders import Settings


@pytest.fixture
def settings(mockserver: MockServerClient) -> Settings:
    from orders import Settings  # imported late: the test module skips first without the SDKs

    return Settings.for_mock(mockserver.url)


@pytest.fixture
def app(settings: Settings) -> Iterator[str]:
    """The service's HTTP API on a free port, calling the mock server; yields its URL."""
    from orders import OrderService
    from orders.web import running

    with running(OrderService(settings)) as url:
        yield url
