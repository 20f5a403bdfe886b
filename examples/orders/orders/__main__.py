"""`python -m orders serve` runs the HTTP API; `python -m orders place ...` places one order.

Both read their settings from ORDERS_* environment variables (see README.md); `serve` also takes
its address from ORDERS_HOST and ORDERS_PORT, so a container needs no arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from types import FrameType

from orders.service import Order, OrderService
from orders.settings import Settings, SettingsError
from orders.web import OrdersServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orders", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API (POST /orders, GET /health)")
    serve.add_argument(
        "--host",
        default=os.environ.get("ORDERS_HOST") or "127.0.0.1",
        help="ORDERS_HOST; 0.0.0.0 in a container (default %(default)s)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=os.environ.get("ORDERS_PORT") or "8000",  # a string default goes through `type`
        help="ORDERS_PORT; 0 picks a free port (default %(default)s)",
    )
    place = commands.add_parser("place", help="place one order and print the result as JSON")
    place.add_argument("order_id")
    place.add_argument("amount", type=int, help="in cents: 2000 is 20.00")
    place.add_argument("currency")
    place.add_argument("payment_method", help="a Stripe PaymentMethod id, e.g. pm_card_visa")
    place.add_argument("email")
    place.add_argument("--description", default="")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        service = OrderService(Settings.from_env())
    except SettingsError as error:
        print(f"orders: {error}", file=sys.stderr)
        return 2

    if args.command == "serve":
        return _serve(service, args.host, args.port)

    try:
        order = Order.from_json(vars(args))
    except ValueError as error:
        print(f"orders: {error}", file=sys.stderr)
        return 2
    result = service.place_order(order)
    print(json.dumps(result.to_json()))
    return 0 if result.status == "paid" else 1


def _serve(service: OrderService, host: str, port: int) -> int:
    server = OrdersServer(service, host, port)
    # in a container the service is PID 1, which the kernel shields from SIGTERM unless it has a
    # handler: without one, `docker stop` would wait its 10 s and kill it
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"orders: listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("orders: stopped", flush=True)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # ends serve_forever() in the main thread, as Ctrl-C does


if __name__ == "__main__":
    sys.exit(main())
