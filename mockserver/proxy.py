"""Proxy: a mocked request forwarded to an upstream, and the upstream's answer read back.

What is forwarded (PRODUCT.md §11): the method, the path after the document's `base_path`
joined to the upstream URL, the query string as sent, the headers without hop-by-hop ones (and
as the stub's `proxy.headers` changes them), the body as it arrived. The answer's head is
awaited within `timeout_ms` (504 after), an upstream that cannot be reached or answers
something that is not HTTP is a 502; both are JSON naming the upstream. One `aiohttp`
client session serves the whole app (`Upstream`), opened on first use and closed at cleanup;
it keeps no cookies and decompresses nothing, so bytes pass through as the upstream sent them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from mockserver.incoming import HOP_BY_HOP, IncomingRequest
from mockserver.responder import json_response
from mockserver.spec import ProxySpec, header_lines

"""Headers that describe one connection (RFC 9110 §7.6.1): never forwarded either way."""

_NOT_FORWARDED: Final = HOP_BY_HOP | {"host", "content-length", "expect"}
"""Also computed anew for the upstream connection: its Host, the body's length."""

_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True)
class Forward:
    """A request as it goes to the upstream."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timeout_ms: int


def forward_request(
    request: IncomingRequest, spec: ProxySpec, base_path: str | None, *, identity: bool = False
) -> Forward:
    """What `request` becomes for the upstream of `spec`; `identity` asks the upstream for an
    uncompressed answer (a recording keeps bodies readable).

    "/stripe/v1/charges?expand=x" under base_path "/stripe", to "https://api.stripe.com"
    -> "https://api.stripe.com/v1/charges?expand=x"
    """
    path = request.path
    if base_path is not None and path.startswith(base_path):
        path = path[len(base_path) :]
    url = spec.to.rstrip("/") + (quote(path, safe=_PATH_SAFE) if path else "/")
    if request.query_string:
        url += "?" + request.query_string
    raw = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.raw_headers]
    named_by_connection = {
        token.strip().lower()
        for name, value in raw
        if name.lower() == "connection"
        for token in value.split(",")
    }
    removed = {name.lower() for name in spec.headers.remove} | named_by_connection
    added = header_lines(spec.headers.add)
    replaced = {name.lower() for name, _ in added}
    if identity:
        added.append(("Accept-Encoding", "identity"))
        replaced.add("accept-encoding")
    kept = [
        (name, value)
        for name, value in raw
        if (lowered := name.lower()) not in _NOT_FORWARDED
        and lowered not in removed
        and lowered not in replaced
    ]
    body = request.raw_body if request.raw_body is not None else request.body
    return Forward(request.method, url, (*kept, *added), body, spec.timeout_ms)


class UpstreamFailure(Exception):
    """The upstream gave no usable answer head: `status` is what the client gets (502, 504)."""

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(message)
        self.status, self.url, self.message = status, url, message

    def response(self) -> web.Response:
        return json_response(
            self.status,
            {
                "error": self.message,
                "upstream": self.url,
                "details": [{"field": "proxy.to", "message": self.message}],
            },
        )


class Upstream:
    """The app's one client session for upstreams, opened on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,  # the client gets the bytes the upstream sent
                cookie_jar=aiohttp.DummyCookieJar(),  # a proxy keeps no cookies between calls
                timeout=aiohttp.ClientTimeout(total=None),
                # only what the client sent goes upstream: no Accept-Encoding of our own (the
                # answer would come compressed to a client that did not ask), no User-Agent
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return self._session

    async def open(self, forward: Forward) -> aiohttp.ClientResponse:
        """Send the request and wait for the answer's head (the body is read by the caller).

        Raises:
            UpstreamFailure: 504 when no head came within the timeout, 502 when the upstream
                cannot be reached or does not answer HTTP.
        """
        seconds = forward.timeout_ms / 1000
        try:
            async with asyncio.timeout(seconds):
                return await self.session().request(
                    forward.method,
                    URL(forward.url, encoded=True),
                    headers=list(forward.headers),
                    data=forward.body or None,
                    allow_redirects=False,
                    # each read of the body after the head: a stalled stream is cut
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=seconds),
                )
        except TimeoutError:
            raise UpstreamFailure(
                504,
                forward.url,
                f"upstream {forward.url} sent no answer within {forward.timeout_ms} ms",
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise UpstreamFailure(
                502, forward.url, f"upstream {forward.url} is unreachable: {error.strerror}"
            ) from None
        except aiohttp.ClientError as error:
            raise UpstreamFailure(
                502, forward.url, f"upstream {forward.url} failed: {_reason(error)}"
            ) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0] if text else type(error).__name__


def mid_stream_reason(url: str, error: BaseException) -> str:
    """The journal's `error` for an upstream that stopped after its head was sent on."""
    if isinstance(error, TimeoutError):
        return f"upstream {url} stopped sending: the stream was cut"
    return f"upstream {url} broke off mid-stream ({_reason(error)}): the stream was cut"


def answer_headers(response: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    """The upstream answer's header lines worth passing on: not hop-by-hop, not named by its
    Connection header; Content-Length is the caller's to set."""
    raw = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers
    ]
    named = {
        token.strip().lower()
        for name, value in raw
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [
        (name, value)
        for name, value in raw
        if (lowered := name.lower()) not in HOP_BY_HOP
        and lowered not in named
        and lowered != "content-length"
    ]
