"""What every admin handler shares: its collaborators, body parsing, and error rendering.

Handlers raise `MockServerError`s; `admin_handler` turns each into `{"error", "details"}` with its
status, and anything unexpected into a 500 that still names what failed. The wrapper sits on
admin routes only, so the mocked surface pays nothing for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from mockserver.config import Settings
from mockserver.errors import AdminInputError, MockServerError
from mockserver.incoming import NAMESPACE_NAME
from mockserver.intake import ReadBody, decode_body
from mockserver.locations import model_errors
from mockserver.matching import RequestMatcher, compile_request
from mockserver.recording import Recorder
from mockserver.responder import json_response
from mockserver.spec import RequestSpec
from mockserver.store import ScopedStore, StubStore
from mockserver.wording import describe_matcher

log = logging.getLogger("mockserver.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


NAMESPACE_PARAM: Final = "namespace"
NAMESPACE_SEGMENT: Final = "/ns/{namespace}"
NAMESPACE_ROUTE: Final = f"/ns/{{namespace:{NAMESPACE_NAME}}}"
NAMESPACE_PARAMETER: Final = {
    "name": NAMESPACE_PARAM,
    "in": "path",
    "required": True,
    "description": "The namespace (the /~{namespace}/ prefix of mocked requests).",
    "schema": {"type": "string", "pattern": f"^{NAMESPACE_NAME}$"},
}


LISTENING_KEY = web.AppKey("listening", list[str])
"""The URLs the server listens on, filled once it listens (the health call lists them)."""


@dataclass(frozen=True, slots=True)
class AdminContext:
    settings: Settings
    store: StubStore
    package_version: str | Callable[[], str]
    """The version the health call and the OpenAPI document report, or a function giving it,
    called when one of them asks (reading the installed package's metadata costs ~0.5 ms, so
    start-up need not pay for it)."""
    recorder: Recorder | None = None
    """The recorded services and their recordings."""

    @property
    def version(self) -> str:
        source = self.package_version
        return source if isinstance(source, str) else source()

    async def scope(self, request: web.Request, *, write: bool = False) -> ScopedStore:
        """The namespace an admin call addresses: `{prefix}/ns/{name}/...`, else the default.

        Only a call that writes (`write`) creates it; a read of a namespace not yet created sees
        an empty one, so reads never fill the registry up to --max-namespaces."""
        namespace = request.match_info.get(NAMESPACE_PARAM)
        if write:
            return await self.store.scoped(namespace)
        return await self.store.peek(namespace)


def admin_handler(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except MockServerError as error:
            return json_response(error.status, error.payload())
        except web.HTTPException:
            raise
        except Exception as error:  # the admin API must answer, whatever went wrong
            log.exception("admin call %s %s failed", request.method, request.path)
            return json_response(
                500, {"error": f"internal error: {type(error).__name__}: {error}", "details": []}
            )

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


async def read_text(request: web.Request, max_bytes: int) -> str:
    """The body as UTF-8 text; a 400 for binary or oversized bodies."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise AdminInputError(f"body of {request.content_length} bytes exceeds {max_bytes}")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise AdminInputError(f"body exceeds {max_bytes} bytes")
    encoding = request.headers.get("Content-Encoding")
    if encoding is not None and raw:  # the server's connections leave bodies as they arrived
        body = decode_body(ReadBody(raw, len(raw), truncated=False), encoding, max_bytes)
        if body.undecodable is not None:
            raise AdminInputError(body.undecodable[1])
        raw = body.data
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AdminInputError(
            f"body is not UTF-8 text: {error.reason} at byte {error.start}",
            [{"field": "body", "message": "send JSON (or YAML for stubs) as UTF-8"}],
        ) from None


def parse_json(text: str, *, what: str) -> Any:
    """Parse a JSON body; an empty body or invalid JSON is a 400 naming line and column."""
    if not text.strip():
        raise AdminInputError(
            f"empty body: expected {what}", [{"field": "body", "message": f"expected {what}"}]
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AdminInputError(
            f"body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            [{"field": "body", "message": error.msg, "line": error.lineno, "column": error.colno}],
        ) from None
    except ValueError as error:  # an integer past Python's 4300-digit conversion limit
        raise AdminInputError(
            f"body is not usable JSON: {error}", [{"field": "body", "message": str(error)}]
        ) from None


async def read_json_object(
    request: web.Request, settings: Settings, *, what: str
) -> dict[str, Any]:
    data = parse_json(await read_text(request, settings.max_body), what=what)
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise AdminInputError(
            f"expected {what}, got {kind}", [{"field": "body", "message": f"expected {what}"}]
        )
    return data


def parse_matcher(data: Any, field: str) -> tuple[RequestMatcher, str]:
    """An admin request matcher (the stub `request` format) compiled, with a short description."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise AdminInputError(
            f"{field or 'body'}: a request matcher must be a JSON object ({{}} matches every "
            f"request), got {kind}",
            [{"field": field or "body", "message": "expected a JSON object"}],
        )
    try:
        spec = RequestSpec.model_validate(data)
    except ValidationError as error:
        details = model_errors(error)
        for detail in details:
            detail["field"] = ".".join(part for part in (field, detail["field"]) if part)
        first = details[0]
        raise AdminInputError(f"{first['field']}: {first['message']}", details) from None
    return compile_request(spec), describe_matcher(data)


def created(payload: Any) -> web.Response:
    return json_response(201, payload)


def ok(payload: Any) -> web.Response:
    return json_response(200, payload)


@dataclass(frozen=True, slots=True)
class AdminRoute:
    """One admin call: served by the app and described in the OpenAPI document alike."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: dict[str, Any] | None = None
    responses: tuple[int, ...] = (200,)
    parameters: tuple[dict[str, Any], ...] = ()
    scoped: bool = True
    """Also served under {prefix}/ns/{namespace}/..., acting on that namespace."""
