"""IncomingRequest: one received request, parsed once, shared by matching and the journal.

Headers are lower-cased and repeated ones joined with ", "; the query is a multi-dict. JSON,
form and cookies are parsed lazily and cached, so a request that no stub inspects by body never
pays for parsing it. Pure: built from values the web layer already read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Final
from urllib.parse import parse_qs, quote_from_bytes, unquote, unquote_to_bytes, urlencode

from pydantic import JsonValue


class NotJson:
    """The type of NOT_JSON: a body that is not JSON (distinct from a JSON `null`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Final = NotJson()

_UNSET: Final = object()


def join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """[("Accept", "a"), ("accept", "b")] -> {"accept": "a, b"}.

    Cookie headers join with "; " instead (RFC 9113 8.2.3), so they still parse as cookies.
    """
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in joined:
            joined[key] = f"{joined[key]}{'; ' if key == 'cookie' else ', '}{value}"
        else:
            joined[key] = value
    return joined


HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers about one connection, not the message (RFC 9110 §7.6.1, with the older names still
sent): a proxy does not pass them on, a recording or an import does not keep them."""


NAMESPACE_NAME: Final = r"[A-Za-z0-9_-]{1,64}"
"""The grammar of a namespace's name (PRODUCT.md §9), in the `/~{name}/` prefix of a mocked
request and in `{prefix}/ns/{name}/...` admin paths."""
_NAMESPACE: Final = re.compile(rf"/~({NAMESPACE_NAME})(?=/|$)")


def _not_json(constant: str) -> object:
    # NaN and Infinity are Python's extension, not JSON: such a body is text, not a JSON body
    raise ValueError(f"{constant} is not JSON")


def _finite(number: str) -> float:
    # 1e400 is a JSON number a float cannot hold: read as infinity, no journal or near miss
    # could show it as JSON again, so such a body is text too
    value = float(number)
    if math.isinf(value):
        raise ValueError(f"{number} is beyond a float's range")
    return value


def split_namespace(path: str) -> tuple[str | None, str]:
    """ "/~worker1/v1/charges" -> ("worker1", "/v1/charges"); "/v1/x" -> (None, "/v1/x")."""
    if not path.startswith("/~"):
        return None, path
    found = _NAMESPACE.match(path)
    if found is None:
        return None, path
    return found.group(1), path[found.end() :] or "/"


def split_target(target: str) -> tuple[str, str]:
    """ "/v1/x?a=%2B1#top" -> ("/v1/x", "a=%2B1"): a request target's path and query as sent,
    still encoded. An absolute-form target (a client that thinks it talks to a proxy) gives
    its path: "http://api.test/v1/x?a=1" -> ("/v1/x", "a=1")."""
    if "#" in target:
        target = target.partition("#")[0]
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        scheme, separator, rest = path.partition("://")
        if separator and scheme.isalpha():
            path = "/" + rest.partition("/")[2]
    return path, query


_KEPT_IN_SEGMENT: Final = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) not in "%/")
"""What an undecodable segment keeps as it is; everything else in it is percent-encoded."""


def segment_path(path: str) -> str:
    """ "/files/a%2Fb/caf%C3%A9" -> "/files/a%2Fb/café": the form a path is matched in.

    The path is split on the `/` characters as sent, then each segment is percent-decoded; a
    `/` or `%` that a segment holds stays encoded (`%2F`, `%25`), so segments never run into
    each other and one path has one form however it was encoded (`%2f`, `%2F`). A segment
    whose bytes are not UTF-8 keeps them encoded ("%FF"). A path without `%` is its own form:
    most requests pay one `in` test. Stub paths go through the same function at load, so a
    stub may write its path encoded or decoded."""
    if "%" not in path:
        return path
    return "/".join(_segment(part) if "%" in part else part for part in path.split("/"))


def _segment(part: str) -> str:
    data = unquote_to_bytes(part)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return quote_from_bytes(data, safe=_KEPT_IN_SEGMENT)
    return text.replace("%", "%25").replace("/", "%2F")


def decoded_path(path: str) -> str:
    """ "/files/a%2Fb/meta" -> "/files/a/b/meta": a path in `segment_path`'s form, wholly
    decoded, as the journal shows it (its `raw_path` keeps the segments apart)."""
    return unquote(path) if "%" in path else path


def decoded_segment(value: str) -> str:
    """ "a%2Fb" -> "a/b": one captured segment (a path parameter) as the client meant it."""
    return unquote(value) if "%" in value else value


def request_path(raw_path: str) -> tuple[str | None, str, str | None]:
    """ "/~w1/files/a%2Fb" -> ("w1", "/files/a%2Fb", "/files/a%2Fb"): the namespace, the path
    in `segment_path`'s form and the path as sent (None when it is the same), both without
    the namespace's prefix."""
    path = segment_path(raw_path)
    namespace = None
    if path.startswith("/~"):
        namespace, rest = split_namespace(path)
        if namespace is not None:
            if path is raw_path:
                raw_path = rest
            else:  # the prefix is one segment, however it was encoded
                parts = raw_path.split("/", 2)
                raw_path = "/" + parts[2] if len(parts) > 2 else "/"
            path = rest
    return namespace, path, None if path == raw_path else raw_path


def raw_query(target: str) -> str:
    """ "/v1/x?a=%2B1#top" -> "a=%2B1": the query of a request target as sent, still encoded.

    Decoded once, by `parse_query`: a decoded query string (as yarl gives it) would be decoded
    twice, and `c=%2526` (the text "%26") would arrive as "&"."""
    query = target.partition("?")[2]
    return query.partition("#")[0] if "#" in query else query


def parse_query(query_string: str) -> dict[str, list[str]]:
    """ "a=1&a=2&b" -> {"a": ["1", "2"], "b": [""]}."""
    if not query_string:
        return {}
    return parse_qs(query_string, keep_blank_values=True)


RawHeaders = tuple[tuple[bytes, bytes], ...]
"""Header lines as the HTTP parser read them: names and values as bytes, repeats kept."""


_LINE: Final = b"\r\n"


def header_block(raw_headers: RawHeaders) -> bytes:
    """((b"Host", b"a"), (b"Accept", b"*/*")) -> b"Host\\r\\na\\r\\nAccept\\r\\n*/*": names and
    values alternate. One bytes object holds what a dozen small ones did; no name or value read
    off the wire can hold CR LF, so the split is exact."""
    return _LINE.join(chain.from_iterable(raw_headers))


def header_lines(block: bytes) -> RawHeaders:
    """The inverse of `header_block`."""
    if not block:
        return ()
    parts = iter(block.split(_LINE))
    return tuple(zip(parts, parts, strict=False))


def _decode(raw: bytes) -> str:
    # HTTP's rule (RFC 9110 5.5): a header's bytes beyond ASCII are ISO-8859-1 (b"caf\xe9" is
    # "café"); every byte is a character, so no value ever holds a lone surrogate
    return raw.decode("latin-1")


def header_bytes(text: str) -> bytes:
    """ "café" -> b"caf\xe9": a header name or value as it goes on the wire (ISO-8859-1);
    characters beyond it, which HTTP cannot carry, go as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


class IncomingRequest:
    """A request as the mock saw it. Immutable by convention; lazily parsed fields are cached.

    Built from the wire (`from_wire`), it keeps the query string and the raw header lines and
    parses them only when a matcher, a template or an admin call asks: most requests are
    answered on method and path alone, and the journal keeps the compact raw form.
    """

    __slots__ = (
        "_cookies",
        "_form",
        "_header_block",
        "_headers",
        "_json",
        "_query",
        "_raw_headers",
        "_text",
        "body",
        "body_size",
        "body_truncated",
        "client_cert",
        "content_encoding",
        "method",
        "namespace",
        "path",
        "query_string",
        "raw_body",
        "raw_path",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        body_size: int | None = None,
        body_truncated: bool = False,
        namespace: str | None = None,
        client_cert: str | None = None,
        content_encoding: str | None = None,
        raw_body: bytes | None = None,
        raw_path: str | None = None,
    ) -> None:
        self.method = method.upper()
        self.namespace = namespace
        self.client_cert = client_cert
        self.path = path
        self._query: Mapping[str, list[str]] | None = query
        self._headers: Mapping[str, str] | None = headers
        self.query_string: str | None = None
        self._raw_headers: RawHeaders | None = None
        self._header_block: bytes | None = None
        self.body = body
        self.body_size = len(body) if body_size is None else body_size
        self.body_truncated = body_truncated
        self.content_encoding = content_encoding
        self.raw_body = raw_body
        self.raw_path = raw_path
        self._json: object = _UNSET
        self._form: dict[str, list[str]] | None = None
        self._cookies: dict[str, str] | None = None
        self._text: object = _UNSET

    @classmethod
    def from_wire(
        cls,
        method: str,
        path: str,
        query_string: str,
        raw_headers: RawHeaders | bytes,
        body: bytes = b"",
        *,
        body_size: int | None = None,
        body_truncated: bool = False,
        namespace: str | None = None,
        client_cert: str | None = None,
        content_encoding: str | None = None,
        raw_body: bytes | None = None,
        raw_path: str | None = None,
    ) -> IncomingRequest:
        """A request as the HTTP parser delivered it (`method` already upper-case); the header
        lines as parsed, or as a `header_block`. A body sent with a `Content-Encoding` is
        `body` decoded, `raw_body` as it arrived (`body` itself when it did not decode).
        `path` is in `segment_path`'s form; `raw_path` is the path as sent when that differs."""
        request = cls.__new__(cls)
        request.method = method
        request.namespace = namespace
        request.client_cert = client_cert
        request.path = path
        request.query_string = query_string
        if isinstance(raw_headers, bytes):
            request._raw_headers, request._header_block = None, raw_headers
        else:
            request._raw_headers, request._header_block = raw_headers, None
        request._query = None
        request._headers = None
        request.body = body
        request.body_size = len(body) if body_size is None else body_size
        request.body_truncated = body_truncated
        request.content_encoding = content_encoding
        request.raw_body = raw_body
        request.raw_path = raw_path
        request._json = _UNSET
        request._form = None
        request._cookies = None
        request._text = _UNSET
        return request

    @property
    def query(self) -> Mapping[str, list[str]]:
        """ "a=1&a=2&b" -> {"a": ["1", "2"], "b": [""]}."""
        if self._query is None:
            self._query = parse_query(self.query_string or "")
        return self._query

    @property
    def headers(self) -> Mapping[str, str]:
        """Lower-cased names, repeated headers joined (see `join_headers`)."""
        if self._headers is None:
            self._headers = join_headers(
                (_decode(name), _decode(value)) for name, value in self.raw_headers
            )
        return self._headers

    @property
    def raw_headers(self) -> RawHeaders:
        if self._raw_headers is None:
            if self._header_block is not None:
                self._raw_headers = header_lines(self._header_block)
            else:  # built from a mapping
                self._raw_headers = tuple(
                    (header_bytes(name), header_bytes(value))
                    for name, value in self.headers.items()
                )
        return self._raw_headers

    def wire(self) -> tuple[str, bytes]:
        """(query string, header block): the compact form the journal keeps."""
        query_string = self.query_string
        if query_string is None:
            query_string = urlencode(self.query, doseq=True)
        block = self._header_block
        if block is None:
            block = header_block(self.raw_headers)
        return query_string, block

    @property
    def host(self) -> str | None:
        """The Host header without its port: "api.stripe.test:8080" -> "api.stripe.test"."""
        host = self.headers.get("host")
        if host is None:
            return None
        if host.startswith("["):  # an IPv6 literal keeps its colons
            return host.split("]", 1)[0] + "]"
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def text(self) -> str | None:
        """The body as UTF-8 text, or None when it is not valid UTF-8."""
        if self._text is _UNSET:
            try:
                self._text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                self._text = None
        return self._text  # type: ignore[return-value]  # str | None once set

    @property
    def json(self) -> JsonValue | NotJson:
        """The parsed JSON body, or NOT_JSON. Parsed whatever the Content-Type says."""
        if self._json is _UNSET:
            text = self.text
            try:
                self._json = (
                    json.loads(text, parse_constant=_not_json, parse_float=_finite)
                    if text
                    else NOT_JSON
                )
            except ValueError:
                self._json = NOT_JSON
        return self._json  # type: ignore[return-value]  # set above, typed as object for the sentinel

    def json_or_none(self) -> JsonValue:
        value = self.json
        return None if isinstance(value, NotJson) else value

    @property
    def form(self) -> dict[str, list[str]]:
        """Form fields of an application/x-www-form-urlencoded body; {} for any other."""
        if self._form is None:
            content_type = self.headers.get("content-type", "")
            text = self.text
            if "application/x-www-form-urlencoded" in content_type.lower() and text:
                self._form = parse_qs(text, keep_blank_values=True)
            else:
                self._form = {}
        return self._form

    @property
    def cookies(self) -> dict[str, str]:
        """ "a=1; b=2" -> {"a": "1", "b": "2"}; the first of a repeated name wins (RFC 6265)."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for part in self.headers.get("cookie", "").split(";"):
                name, sep, value = part.strip().partition("=")
                if sep and name and name not in cookies:
                    cookies[name] = value.strip().strip('"')
            self._cookies = cookies
        return self._cookies
