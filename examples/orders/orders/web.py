"""The service's HTTP API (standard library only): POST /orders, GET /health."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orders.service import Order, OrderService

log = logging.getLogger("orders.web")


class OrdersServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: OrderService, host: str = "127.0.0.1", port: int = 8000) -> None:
        super().__init__((host, port), OrdersHandler)
        self.service = service

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class OrdersHandler(BaseHTTPRequestHandler):
    server: OrdersServer

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(HTTPStatus.OK, {"status": "ok"})
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/orders":
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            order = Order.from_json(data)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            self._answer(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        result = self.server.service.place_order(order)
        status = HTTPStatus.CREATED if result.status == "paid" else HTTPStatus.PAYMENT_REQUIRED
        self._answer(status, result.to_json())

    def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


@contextmanager
def running(service: OrderService, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve on a background thread (port 0: a free one); yields the base URL."""
    server = OrdersServer(service, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="orders", daemon=True
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
