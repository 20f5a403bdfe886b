"""W0: bare responders that answer any request with the W1 body, the ceiling of our HTTP stack.

    python bench/responders.py {web,lowlevel} [--uvloop] --port P

`web` is an aiohttp web.Application with one catch-all route; `lowlevel` is aiohttp's low-level
web.Server (no router, no middlewares). Both are also the "bare aiohttp app" of the start-up test.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web
from workloads import CUSTOMER_BODY


async def _respond(request: web.BaseRequest) -> web.Response:
    return web.Response(body=CUSTOMER_BODY, content_type="application/json")


async def serve(kind: str, host: str, port: int) -> None:
    runner: web.BaseRunner[web.BaseRequest] | web.AppRunner
    if kind == "web":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _respond)
        runner = web.AppRunner(app, access_log=None)
    else:
        runner = web.ServerRunner(web.Server(_respond), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await asyncio.Event().wait()  # until SIGTERM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["web", "lowlevel"])
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.uvloop:
        import uvloop  # only the uvloop variants need it

        uvloop.run(serve(args.kind, args.host, args.port))
    else:
        asyncio.run(serve(args.kind, args.host, args.port))


if __name__ == "__main__":
    main()
