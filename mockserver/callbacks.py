"""Callbacks compiled and rendered: a callback spec -> the request the mock sends the application.

A stub's `callbacks:` and a document's `events:` are compiled once, at load (templates included,
so a bad template fails with the stub's `path:line`); after an answer, `render_call` turns one
into an `OutgoingCall` with the request, the answer sent and `env` in its templates; per
attempt, `signature_headers` signs its body with a timestamp from the namespace's clock. Also
the rules on where a callback may go (`check_url`, `allowed_target`). Sending is `delivery`'s.
Pure: no I/O (the clock's time is read for `timestamp`, as `now()` reads it).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import JsonValue

from mockserver.clock import ClockSetting
from mockserver.errors import TemplateCompileError, TemplateError
from mockserver.incoming import IncomingRequest
from mockserver.signing import HmacScheme, github_headers, slack_headers, stripe_headers
from mockserver.spec import EventSpec, SignSpec
from mockserver.templating import (
    CONTEXT_NAMES,
    Renderable,
    compile_template_value,
    render_header,
    render_text,
    template_context,
)

CALLBACK_NAMES: Final = CONTEXT_NAMES | {"response", "env", "timestamp"}
"""What a stub's callback templates see: the request, the answer sent, `env`, `timestamp` (Unix
seconds on the namespace's clock), the helpers."""
ON_DEMAND_NAMES: Final = frozenset({"env", "timestamp", "now", "uuid", "random_int", "random_hex"})
"""What an event's (or an admin call's) templates see: no request, no answer."""
SIGNED_NAMES: Final = frozenset({"body", "timestamp", "method", "url", "env"})
"""What the hmac scheme's `signed` template sees."""
_USER_AGENT: Final = "mockserver-callbacks"


@dataclass(frozen=True, slots=True)
class SentResponse:
    """The answer a stub sent, as its callbacks' templates see it (`response`)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def fields(self) -> dict[str, object]:
        """{"status": 200, "headers": {"content-type": ...}, "json": {...}, "body": "..."}"""
        text = self.body.decode("utf-8", "replace")
        headers: dict[str, str] = {}
        for name, value in self.headers:
            lowered = name.lower()
            headers[lowered] = f"{headers[lowered]}, {value}" if lowered in headers else value
        try:
            parsed: object = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return {"status": self.status, "headers": headers, "json": parsed, "body": text}


class CallbackError(Exception):
    """A callback that cannot be compiled, at `loc` inside it (("json", "id")); `line` is the
    line within a template's text."""

    def __init__(self, loc: tuple[str | int, ...], message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.loc, self.message, self.line = loc, message, line


@dataclass(frozen=True, slots=True)
class CompiledCallback:
    """A callback with its templates compiled (constant parts render as themselves)."""

    spec: EventSpec
    url: Renderable | None
    headers: tuple[tuple[str, Renderable], ...]
    body: Renderable | None
    secret: Renderable | None
    signed: Renderable | None
    event: str | None = None
    """The `SERVICE/NAME` of a document's event; None for a stub's callback."""


def compile_callback(
    spec: EventSpec, names: frozenset[str], *, event: str | None = None
) -> CompiledCallback:
    """Compile every template of a callback (`names`: the variables its templates may read).

    Raises:
        CallbackError: a template that does not compile, a URL that cannot be one.
    """
    url = None
    if spec.url is not None:
        if not _is_template(spec.url):
            try:
                check_url(spec.url)
            except ValueError as error:
                raise CallbackError(("url",), str(error)) from None
        url = _compiled(spec.url, ("url",), names)
    headers = tuple(
        (name, _compiled(value, ("headers", name), names)) for name, value in spec.headers.items()
    )
    body: Renderable | None = None
    if spec.has_json:
        body = _compiled(spec.json_, ("json",), names)
    elif spec.body is not None:
        body = _compiled(spec.body, ("body",), names)
    secret = signed = None
    if spec.sign is not None:
        secret = _compiled(spec.sign.secret, ("sign", "secret"), names)
        if spec.sign.signed is not None:
            signed = _compiled(spec.sign.signed, ("sign", "signed"), SIGNED_NAMES)
    return CompiledCallback(spec, url, headers, body, secret, signed, event)


def _is_template(text: str) -> bool:
    return any(marker in text for marker in ("{{", "{%", "{#"))


def _compiled(value: JsonValue, loc: tuple[str | int, ...], names: frozenset[str]) -> Renderable:
    field = ".".join(str(part) for part in loc)
    try:
        return compile_template_value(value, field, names)
    except TemplateCompileError as error:
        raise CallbackError((*loc, *error.loc), f"template: {error.reason}", error.line) from None


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A callback rendered: the request to send (its signature is added per attempt)."""

    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    sign: SignSpec | None
    secret: str | None
    signed: Renderable | None
    env: Mapping[str, str]
    delay_ms: int
    timeout_ms: int
    retries: int
    backoff_ms: int
    event: str | None = None
    stub_id: str | None = None

    def signature_headers(self, timestamp: int) -> list[tuple[str, str]]:
        """The signature's header lines for this body at `timestamp` (Unix seconds).

        Raises:
            TemplateError: the hmac `signed` template failed to render.
        """
        sign, secret = self.sign, self.secret
        if sign is None or secret is None:
            return []
        if sign.scheme == "stripe":
            return stripe_headers(secret, timestamp, self.body)
        if sign.scheme == "github":
            return github_headers(secret, self.body)
        if sign.scheme == "slack":
            return slack_headers(secret, timestamp, self.body)
        assert sign.header is not None  # the spec requires it for hmac
        scheme = HmacScheme(sign.header, sign.algorithm, sign.encoding, sign.prefix,
                            sign.timestamp_header)  # fmt: skip
        text = self.body
        if self.signed is not None:
            context = {
                "body": self.body.decode("utf-8", "replace"),
                "timestamp": timestamp,
                "method": self.method,
                "url": self.url,
                "env": self.env,
            }
            text = render_text(self.signed, context).encode("utf-8")
        return scheme.headers(secret, timestamp, text)


def stub_context(
    request: IncomingRequest,
    path_params: Mapping[str, str],
    hits: int,
    sent: SentResponse,
    env: Mapping[str, str],
    clock: ClockSetting,
) -> dict[str, object]:
    """What a stub's callback templates see: the response templates' context, `response` (the
    answer sent: status, headers with lower-case names, json or None, body as text), `env` and
    `timestamp`."""
    context = template_context(request, path_params, hits, clock)
    context["response"] = sent.fields()
    context["env"] = env
    context["timestamp"] = int(clock.now(time.time()).timestamp())
    return context


def on_demand_context(env: Mapping[str, str], clock: ClockSetting) -> dict[str, object]:
    """What an event's templates see: `env`, `timestamp` and the helpers (`now()`), on the
    namespace's clock."""
    context = template_context(_NO_REQUEST, {}, 0, clock)
    context["env"] = env
    context["timestamp"] = int(clock.now(time.time()).timestamp())
    return context


_NO_REQUEST: Final = IncomingRequest.from_wire("POST", "/", "", ())


def render_call(
    compiled: CompiledCallback,
    context: Mapping[str, object],
    *,
    url: str | None = None,
    stub_id: str | None = None,
) -> OutgoingCall:
    """The request a callback sends, its templates rendered with `context` (`url`: the target
    an event is sent to).

    Raises:
        TemplateError: a template failed to render, or the URL it gave is not one.
    """
    spec = compiled.spec
    if url is None:
        if compiled.url is None:
            raise TemplateError("url", "the callback has no url")
        url = render_text(compiled.url, context)
    try:
        check_url(url)
    except ValueError as error:
        raise TemplateError("url", str(error)) from None
    headers = [(name, render_header(value, context)) for name, value in compiled.headers]
    given = {name.lower() for name, _ in headers}
    body = b""
    if compiled.body is not None:
        value = compiled.body.render(context)
        if spec.has_json:
            body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            content_type = "application/json"
        else:
            body = ("" if value is None else str(value)).encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        if "content-type" not in given:
            headers.append(("Content-Type", content_type))
    if "user-agent" not in given:
        headers.append(("User-Agent", _USER_AGENT))
    secret = None if compiled.secret is None else render_text(compiled.secret, context)
    retries = spec.retries
    env = context.get("env")
    return OutgoingCall(
        url=url,
        method=spec.method,
        headers=tuple(headers),
        body=body,
        sign=spec.sign,
        secret=secret,
        signed=compiled.signed,
        env=env if isinstance(env, Mapping) else {},
        delay_ms=spec.delay_ms,
        timeout_ms=spec.timeout_ms,
        retries=0 if retries is None else retries.max,
        backoff_ms=0 if retries is None else retries.backoff_ms,
        event=compiled.event,
        stub_id=stub_id,
    )


def check_url(url: str) -> tuple[str, int]:
    """The host and port an absolute http(s) URL names: "http://app:8000/hooks" -> ("app", 8000).

    Raises:
        ValueError: not an absolute http or https URL with a host, or a bad port.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http:// or https:// URL with a host")
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _is_loopback_address(host: str) -> bool:
    """127.0.0.0/8 or ::1 written as an address; False for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_target(url: str, allow: Sequence[str]) -> bool:
    """Whether a callback added through the admin API may go to `url`: a loopback address (or
    localhost), or a host listed with --callback-allow HOST[:PORT] (a listed port must match).
    Raises ValueError when `url` is not a URL."""
    host, port = check_url(url)
    if host == "localhost" or host.endswith(".localhost") or _is_loopback_address(host):
        return True
    for entry in allow:
        allowed_host, allowed_port = split_allowed(entry)
        if allowed_host == host and allowed_port in (None, port):
            return True
    return False


def split_allowed(entry: str) -> tuple[str, int | None]:
    """ "app:8000" -> ("app", 8000); "app" -> ("app", None); "[::1]:80" -> ("::1", 80).

    Raises:
        ValueError: a port that is not a number from 1 to 65535, or no host.
    """
    host, port = entry.strip(), None
    if host.startswith("["):
        inside, _, rest = host[1:].partition("]")
        host, port_text = inside, rest.removeprefix(":")
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    else:
        port_text = ""
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    if not host:
        raise ValueError(f"{entry!r} names no host (HOST or HOST:PORT)")
    return host.lower(), port


def merged_event(event: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields with an admin call's overrides: `json` merged key by key (nested
    objects too), `headers`, `sign` and `retries` merged one level, anything else replaced."""
    merged = dict(event)
    for key, value in overrides.items():
        current = merged.get(key)
        if key == "json" and isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merged(current, value)
        elif key in ("headers", "sign", "retries") and isinstance(current, dict):
            merged[key] = {**current, **value} if isinstance(value, dict) else value
        else:
            merged[key] = value
    if "body" in overrides and "json" not in overrides:
        merged.pop("json", None)
    if "json" in overrides and "body" not in overrides:
        merged.pop("body", None)
    return merged


def _deep_merged(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merged(current, value)
        else:
            merged[key] = value
    return merged
