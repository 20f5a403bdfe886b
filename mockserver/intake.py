"""Intake: a mocked request off the wire, read once into an `IncomingRequest`.

Reads the body within the size and time limits (answering `Expect: 100-continue` first), splits
the namespace prefix off the path, and reads the client certificate under mTLS. The first step of
the request path (see `app.MockHandler`); nothing here decides an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from aiohttp import HttpVersion11, web
from aiohttp.http_parser import RawRequestMessage

from mockserver.incoming import IncomingRequest, request_path, split_target


@dataclass(frozen=True, slots=True)
class ReadBody:
    """A request body as read: its bytes, its full size, whether it was cut at the limit, and
    whether the client stopped sending it before the timeout.

    A body sent with a `Content-Encoding` is `data` decoded (`size` its size) and `raw` as it
    arrived, with `encoding` as the header said; one that cannot be decoded keeps `data` as it
    arrived and says why in `undecodable` (the status and the reason) instead."""

    data: bytes
    size: int
    truncated: bool
    timed_out: bool = False
    encoding: str | None = None
    raw: bytes | None = None
    undecodable: tuple[int, str] | None = None


NO_BODY: Final = ReadBody(b"", 0, truncated=False)


async def expect_continue(request: web.BaseRequest) -> None:
    """Answer `Expect: 100-continue` so that a client waiting for it sends its body (curl does
    for bodies over 1 KB); other expectations are ignored: a mock answers what it can."""
    if request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started


async def read_body(request: web.BaseRequest, max_body: int, seconds: float) -> ReadBody:
    """Read at most `max_body` bytes within `seconds`; beyond either, stop and report
    the size seen (or declared). Answers `Expect: 100-continue` first. A body with a
    `Content-Encoding` is decoded, within `max_body` too (see `decode_body`)."""
    body = await _read_raw(request, max_body, seconds)
    encoding = request.headers.get("Content-Encoding")
    if encoding is None or body.truncated or not body.data:
        return body
    return decode_body(body, encoding, max_body)


async def _read_raw(request: web.BaseRequest, max_body: int, seconds: float) -> ReadBody:
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


def decode_body(body: ReadBody, content_encoding: str, max_body: int) -> ReadBody:
    """The body decoded as `content_encoding` says ("gzip", "deflate", "gzip, zstd": applied in
    that order, so undone last to first), never past `max_body` bytes: a small body that
    inflates beyond the limit (a decompression bomb) is refused 413 as a large one is. An
    encoding the server cannot decode is refused 415, data that does not decode 400."""
    codings = [coding.strip().lower() for coding in content_encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return body
    data = body.data
    label = ", ".join(codings)
    decoders = _decoders()
    for coding in reversed(codings):
        decoder = decoders.get(coding)
        if decoder is None:
            known = ", ".join(sorted(decoders))
            reason = f"content encoding {coding!r} cannot be decoded here (it decodes {known})"
            return replace(body, encoding=label, undecodable=(415, reason))
        try:
            data = decoder(data, max_body)
        except _TooLarge:
            reason = f"the {coding} body decodes to more than the limit of {max_body} bytes"
            return replace(body, encoding=label, undecodable=(413, reason))
        except (OSError, ValueError, zlib.error, EOFError) as error:
            reason = f"the body does not decode as {coding}: {error}"
            return replace(body, encoding=label, undecodable=(400, reason))
    return replace(body, data=data, size=len(data), encoding=label, raw=body.data)


class _TooLarge(Exception):
    """The decoded body went past the limit."""


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """zlib-family data (one stream, or gzip members one after another), at most `limit`
    bytes of output."""
    out: list[bytes] = []
    size = 0
    while True:
        decoder = zlib.decompressobj(wbits)
        chunk = decoder.decompress(data, limit + 1 - size)
        size += len(chunk)
        out.append(chunk)
        if size > limit:
            raise _TooLarge
        if decoder.unconsumed_tail:  # stopped at the output bound with input left
            raise _TooLarge
        if not decoder.eof:
            raise ValueError(_CUT)
        data = decoder.unused_data
        if not data or wbits != _GZIP_WBITS:  # another gzip member may follow
            return b"".join(out)


_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


def _gunzip(data: bytes, limit: int) -> bytes:
    return _inflate(data, _GZIP_WBITS, limit)


def _deflate(data: bytes, limit: int) -> bytes:
    # HTTP's "deflate" is a zlib stream; some clients send raw deflate, which browsers accept too
    try:
        return _inflate(data, zlib.MAX_WBITS, limit)
    except zlib.error:
        return _inflate(data, -zlib.MAX_WBITS, limit)


def _unbrotli(data: bytes, limit: int) -> bytes:
    brotli = importlib.import_module("brotli")
    decoder = brotli.Decompressor()
    try:
        out: bytes = decoder.process(data, output_buffer_limit=limit + 1)
    except brotli.error as error:
        raise ValueError(str(error)) from None
    if len(out) > limit:  # the buffer stops growing once at the bound
        raise _TooLarge
    if not decoder.is_finished():
        raise ValueError(_CUT)
    return out


def _unzstd(data: bytes, limit: int) -> bytes:
    zstd = _zstd_module()
    out: list[bytes] = []
    size = 0
    while True:  # one frame after another
        decoder = zstd.ZstdDecompressor()
        try:
            chunk = decoder.decompress(data, limit + 1 - size)
        except zstd.ZstdError as error:
            raise ValueError(str(error)) from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or (not decoder.eof and not decoder.needs_input):
            raise _TooLarge
        if not decoder.eof:
            raise ValueError(_CUT)
        data = decoder.unused_data
        if not data:
            return b"".join(out)


def _zstd_module() -> Any:
    try:
        return importlib.import_module("compression.zstd")  # Python 3.14
    except ImportError:
        return importlib.import_module("backports.zstd")


_CUT: Final = "the data ends before the end of the compressed stream"
Decoder = Callable[[bytes, int], bytes]
"""Decodes a body, raising ValueError when it does not decode, _TooLarge past the limit."""


@functools.cache
def _decoders() -> dict[str, Decoder]:
    """The encodings this server decodes: gzip and deflate always; br with `brotli` 1.2 or
    later (which bounds its output), zstd with `compression.zstd` or `backports.zstd`."""
    decoders: dict[str, Decoder] = {"gzip": _gunzip, "x-gzip": _gunzip, "deflate": _deflate}
    with contextlib.suppress(ImportError):  # optional: br is refused (415) without it
        if hasattr(importlib.import_module("brotli").Decompressor, "can_accept_more_data"):
            decoders["br"] = _unbrotli
    with contextlib.suppress(ImportError):  # optional: zstd likewise
        _zstd_module()
        decoders["zstd"] = _unzstd
    return decoders


def incoming_request(
    request: web.BaseRequest, body: ReadBody, *, client_cert: bool
) -> IncomingRequest:
    """The request as the journal and the matchers see it: namespace prefix removed, the query
    and header lines kept as sent, parsed when first read."""
    path, query = split_target(request.raw_path)
    namespace, path, raw_path = request_path(path)
    return IncomingRequest.from_wire(
        request.method,
        path,
        query,
        request.raw_headers,
        body.data,
        body_size=body.size,
        body_truncated=body.truncated,
        namespace=namespace,
        client_cert=client_certificate_subject(request) if client_cert else None,
        content_encoding=body.encoding,
        raw_body=body.raw,
        raw_path=raw_path,
    )


def lost_request(message: RawRequestMessage) -> IncomingRequest:
    """A request read off the wire that never reached a handler (its client went away first)."""
    path, query = split_target(message.path)
    namespace, path, raw_path = request_path(path)
    return IncomingRequest.from_wire(
        message.method, path, query, message.raw_headers, namespace=namespace, raw_path=raw_path
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
