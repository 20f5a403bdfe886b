"""Intake: a mocked request off the wire, read once into an `IncomingRequest`.

Reads the body within the size and time limits (answering `Expect: 100-continue` first), splits
the namespace prefix off the path, and reads the client certificate under mTLS. The first step of
the request path (see `app.MockHandler`); nothing here decides an answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from aiohttp import HttpVersion11, web
from aiohttp.http_parser import RawRequestMessage

from mockserver.incoming import IncomingRequest, raw_query, split_namespace


@dataclass(frozen=True, slots=True)
class ReadBody:
    """A request body as read: its bytes, its full size, whether it was cut at the limit, and
    whether the client stopped sending it before the timeout."""

    data: bytes
    size: int
    truncated: bool
    timed_out: bool = False


NO_BODY: Final = ReadBody(b"", 0, truncated=False)


async def expect_continue(request: web.BaseRequest) -> None:
    """Answer `Expect: 100-continue` so that a client waiting for it sends its body (curl does
    for bodies over 1 KB); other expectations are ignored: a mock answers what it can."""
    if request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started


async def read_body(request: web.BaseRequest, max_body: int, seconds: float) -> ReadBody:
    """Read at most `max_body` bytes within `seconds`; beyond either, stop and report
    the size seen (or declared). Answers `Expect: 100-continue` first."""
    if not request.body_exists:
        return NO_BODY
    declared = request.content_length
    if declared is not None and declared > max_body:
        return ReadBody(b"", declared, truncated=True)
    content = request.content
    if content.is_eof():  # the whole body came with the head (most requests): no wait, no timer
        data = content.read_nowait()
        if len(data) > max_body:
            return ReadBody(b"", len(data), truncated=True)
        return ReadBody(data, len(data), truncated=False)
    if request.version >= HttpVersion11 and "Expect" in request.headers:
        await expect_continue(request)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > max_body:
                    return ReadBody(b"", size, truncated=True)
                chunks.append(chunk)
    except TimeoutError:
        return ReadBody(b"".join(chunks), size, truncated=True, timed_out=True)
    return ReadBody(b"".join(chunks), size, truncated=False)


def incoming_request(
    request: web.BaseRequest, body: ReadBody, *, client_cert: bool
) -> IncomingRequest:
    """The request as the journal and the matchers see it: namespace prefix removed, the query
    and header lines kept as sent, parsed when first read."""
    namespace, path = split_namespace(request.path)
    return IncomingRequest.from_wire(
        request.method,
        path,
        raw_query(request.raw_path),
        request.raw_headers,
        body.data,
        body_size=body.size,
        body_truncated=body.truncated,
        namespace=namespace,
        client_cert=client_certificate_subject(request) if client_cert else None,
    )


def lost_request(message: RawRequestMessage) -> IncomingRequest:
    """A request read off the wire that never reached a handler (its client went away first)."""
    namespace, path = split_namespace(message.url.path)
    return IncomingRequest.from_wire(
        message.method,
        path,
        raw_query(message.path),
        message.raw_headers,
        namespace=namespace,
    )


def client_certificate_subject(request: web.BaseRequest) -> str | None:
    """The verified client certificate's subject, "CN=app,O=Example", under mTLS."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    if not peer:
        return None
    return ",".join(
        f"{_SHORT_NAMES.get(key, key)}={value}"
        for rdn in peer.get("subject", ())
        for key, value in rdn
    )


_SHORT_NAMES: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}
