"""Responder: turns what matching decided into aiohttp responses, and reads request bodies.

Owns the wire format of mocked answers: prepared stub responses, the explanatory 404, the 413 for
an oversized body. Everything here was decided elsewhere; this module only writes bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from mockserver.incoming import IncomingRequest
from mockserver.stub import PreparedResponse

_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class ReadBody:
    """A request body as read: its bytes, its full size, and whether it was cut at the limit."""

    data: bytes
    size: int
    truncated: bool


async def read_body(request: web.Request, max_body: int) -> ReadBody:
    """Read at most `max_body` bytes; beyond that, stop and report the size seen (or declared)."""
    declared = request.content_length
    if declared is not None and declared > max_body:
        return ReadBody(b"", declared, truncated=True)
    if not request.body_exists:
        return ReadBody(b"", 0, truncated=False)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > max_body:
            return ReadBody(b"", size, truncated=True)
        chunks.append(chunk)
    return ReadBody(b"".join(chunks), size, truncated=False)


def stub_response(prepared: PreparedResponse) -> web.Response:
    return web.Response(
        status=prepared.status, headers=CIMultiDict(prepared.headers), body=prepared.body
    )


def json_response(status: int, payload: Any) -> web.Response:
    return web.Response(
        status=status,
        headers=_JSON_HEADERS,
        body=json.dumps(payload, ensure_ascii=False, default=str).encode(),
    )


def request_summary(request: IncomingRequest) -> dict[str, Any]:
    """The request as received, for the 404 body."""
    text = request.text
    summary: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "body": text if text is not None else f"<{request.body_size} bytes of binary data>",
    }
    return summary


def unmatched_response(
    request: IncomingRequest, near_misses: Sequence[dict[str, Any]]
) -> web.Response:
    """404 that explains itself: the request and the stubs that came closest."""
    return json_response(
        404,
        {
            "error": f"no stub matched {request.method} {request.path}",
            "request": request_summary(request),
            "near_misses": list(near_misses),
        },
    )


def too_large_response(size: int, limit: int) -> web.Response:
    return json_response(
        413,
        {
            "error": f"request body of {size} bytes exceeds the limit of {limit} bytes",
            "details": [{"field": "body", "message": "raise it with --max-body"}],
        },
    )
