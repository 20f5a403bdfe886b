"""W0: bare responders that answer any request with the W1 body, the ceiling of our HTTP stack.

    python bench/responders.py {web,lowlevel,written,floor} [--uvloop] --port P

`web` is an aiohttp web.Application with one catch-all route; `lowlevel` is aiohttp's low-level
web.Server (no router, no middlewares); both are also the "bare aiohttp app" of the start-up
test. `written` is the low-level server answering as mockserver answers a fixed stub: the head
serialised once, the Date line once a second, one transport write, no aiohttp Response. `floor`
is the start-up and memory floor of mockserver's stack: the `web` app (run with --uvloop) that
also imports pydantic and PyYAML and defines one model, which mockserver cannot do without
(pydantic is the one source of truth of the stub format).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from email.utils import formatdate

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from workloads import CUSTOMER_BODY

_HEAD = (
    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(CUSTOMER_BODY)}\r\n"
).encode()


async def _respond(request: web.BaseRequest) -> web.Response:
    return web.Response(body=CUSTOMER_BODY, content_type="application/json")


class _Written(web.StreamResponse):
    """Returned once the handler has written the whole answer (as mockserver's responder)."""

    async def prepare(self, request: web.BaseRequest) -> None:
        if request.protocol.writing_paused:
            await request.writer.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        return None

    @property
    def keep_alive(self) -> bool:
        return True


_WRITTEN = _Written()


class _DateLines:
    """The Date and Server lines, formatted once a second (as mockserver's responder does)."""

    second = -1
    lines = b""


async def _write(request: web.BaseRequest) -> web.StreamResponse:
    transport = request.transport
    if transport is None or not request.keep_alive:
        return await _respond(request)
    second = int(time.time())
    if second != _DateLines.second:
        date = formatdate(second, usegmt=True)
        _DateLines.lines = f"Date: {date}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n".encode()
        _DateLines.second = second
    transport.write(b"".join((_HEAD, _DateLines.lines, CUSTOMER_BODY)))
    return _WRITTEN


def _define_a_model() -> type:
    import pydantic
    import yaml  # noqa: F401  # imported for its cost: the floor's stack is mockserver's

    class Stub(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        path: str
        status: int = 200

    return Stub


async def serve(kind: str, host: str, port: int) -> None:
    runner: web.BaseRunner[web.BaseRequest] | web.AppRunner
    if kind == "floor":
        _define_a_model()
    if kind in ("web", "floor"):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _respond)
        runner = web.AppRunner(app, access_log=None)
    else:
        handler = _write if kind == "written" else _respond
        runner = web.ServerRunner(web.Server(handler), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await asyncio.Event().wait()  # until SIGTERM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["web", "lowlevel", "written", "floor"])
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
