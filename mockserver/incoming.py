"""IncomingRequest: one received request, parsed once, shared by matching and the journal.

Headers are lower-cased and repeated ones joined with ", "; the query is a multi-dict. JSON,
form and cookies are parsed lazily and cached, so a request that no stub inspects by body never
pays for parsing it. Pure: built from values the web layer already read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qs

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


_NAMESPACE: Final = re.compile(r"/~([A-Za-z0-9_-]{1,64})(?=/|$)")


def _not_json(constant: str) -> object:
    # NaN and Infinity are Python's extension, not JSON: such a body is text, not a JSON body
    raise ValueError(f"{constant} is not JSON")


def split_namespace(path: str) -> tuple[str | None, str]:
    """ "/~worker1/v1/charges" -> ("worker1", "/v1/charges"); "/v1/x" -> (None, "/v1/x")."""
    if not path.startswith("/~"):
        return None, path
    found = _NAMESPACE.match(path)
    if found is None:
        return None, path
    return found.group(1), path[found.end() :] or "/"


def parse_query(query_string: str) -> dict[str, list[str]]:
    """ "a=1&a=2&b" -> {"a": ["1", "2"], "b": [""]}."""
    if not query_string:
        return {}
    return parse_qs(query_string, keep_blank_values=True)


class IncomingRequest:
    """A request as the mock saw it. Immutable by convention; lazily parsed fields are cached."""

    __slots__ = (
        "_cookies",
        "_form",
        "_json",
        "_text",
        "body",
        "body_size",
        "body_truncated",
        "client_cert",
        "headers",
        "method",
        "namespace",
        "path",
        "query",
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
    ) -> None:
        self.method = method.upper()
        self.namespace = namespace
        self.client_cert = client_cert
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.body_size = len(body) if body_size is None else body_size
        self.body_truncated = body_truncated
        self._json: object = _UNSET
        self._form: dict[str, list[str]] | None = None
        self._cookies: dict[str, str] | None = None
        self._text: object = _UNSET

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
                self._json = json.loads(text, parse_constant=_not_json) if text else NOT_JSON
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
