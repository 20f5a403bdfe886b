"""The OpenAPI 3.1 document of the admin API, built from the same route table the app serves.

Building both from one list means a route cannot be served without being described. What each
route answers (its 200/201/422 body) is described here, in `_ANSWERS`, by method and path: this
module is imported only when the document is asked for, so start-up builds no schemas. Operation
ids are derived from method and path (`get_requests_unmatched`): unique, and the same when a
handler is renamed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import TypeAdapter

from mockserver.admin.clock import CLOCK_SCHEMA
from mockserver.admin.context import NAMESPACE_PARAMETER, NAMESPACE_SEGMENT, AdminRoute
from mockserver.spec import EventSpec, RequestSpec, StubDocument, StubSpec

_REF = "#/components/schemas/{model}"
_JSON: Final = "application/json"
_MEDIA_TYPES: Final = {
    ("GET", "/requests/stream"): "text/event-stream",
    ("GET", "/ui"): "text/html",
}
"""The routes whose success is not JSON, and what it is instead."""
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted: the work goes on after the answer",
    400: "Bad input: {error, details}",
    401: "A wrong or missing admin token: {error, details}",
    404: "Unknown id: {error, details}",
    422: "Verification failed: what was found, the server's message and the near misses",
    503: "The namespace would exceed --max-namespaces: {error, details}",
}


def _component_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, adapter in (
        ("RequestMatcher", TypeAdapter(RequestSpec)),
        ("Stub", TypeAdapter(StubSpec)),
        ("StubDocument", TypeAdapter(StubDocument)),
    ):
        schema = adapter.json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    count = {"type": "integer", "minimum": 0}
    schemas["VerifyRequest"] = {
        "type": "object",
        "required": ["request"],
        "additionalProperties": False,
        "properties": {
            "request": {"$ref": _REF.format(model="RequestMatcher")},
            "count": count,
            "at_least": count,
            "at_most": count,
            "within_ms": {"type": "integer", "minimum": 0, "maximum": 30_000},
        },
    }
    schemas["VerifySequenceRequest"] = {
        "type": "object",
        "required": ["requests"],
        "additionalProperties": False,
        "properties": {
            "requests": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": _REF.format(model="RequestMatcher")},
            }
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "details"],
        "properties": {
            "error": {"type": "string"},
            "details": {"type": "array"},
            "state": {
                "type": "string",
                "description": "The state store out of reach (its URL; in health: unavailable)",
            },
            "reason": {"type": "string", "description": "Why the state store is out of reach"},
        },
    }
    schemas["Clock"] = CLOCK_SCHEMA
    schemas["CallbackSend"] = _callback_send_schema()
    schemas.update(_ANSWER_SCHEMAS)
    return schemas


def _callback_send_schema() -> dict[str, Any]:
    """A callback's fields (the stub format's), or an event's name with overrides."""
    schema = TypeAdapter(EventSpec).json_schema(ref_template=_REF)
    schema.pop("$defs", None)  # the same as the stub format's, among the components already
    schema["properties"]["event"] = {
        "type": "string",
        "description": "SERVICE/NAME of an event a stub document declares under `events:`",
    }
    schema["description"] = (
        "A callback: url (required unless the event declares one), method, headers, json or "
        "body, sign, retries, delay_ms, timeout_ms; with `event`, these override the event's"
    )
    return schema


def openapi_document(routes: Sequence[AdminRoute], prefix: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        answer = _ANSWERS.get((route.method, route.path), UNDESCRIBED)
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": _operation_id(route.method, route.path),
            "responses": {
                str(status): _response(status, answer, _media(route)) for status in route.responses
            },
        }
        if route.parameters:
            operation["parameters"] = list(route.parameters)
        if route.body is not None:
            schema = route.body["schema"]
            content = {"application/json": {"schema": schema}}
            if route.body.get("yaml"):
                content["application/yaml"] = {"schema": schema}
            operation["requestBody"] = {
                "required": True,
                "description": route.body["description"].replace("{prefix}", prefix),
                "content": content,
            }
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = operation
        if route.scoped:
            statuses = sorted({*route.responses, 404, 503})  # a bad name; too many namespaces
            scoped = {
                **operation,
                "responses": {
                    str(status): _response(status, answer, _media(route)) for status in statuses
                },
                "operationId": _operation_id(route.method, NAMESPACE_SEGMENT + route.path),
                "parameters": [NAMESPACE_PARAMETER, *route.parameters],
                "tags": ["namespaced"],
            }
            paths.setdefault(prefix + NAMESPACE_SEGMENT + route.path, {})[route.method.lower()] = (
                scoped
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mockserver admin API",
            "version": version,
            "description": "Stubs, the request journal and verification of a mockserver. "
            f"Every call under {prefix}/ns/{{namespace}}/ acts on that namespace only: the "
            "requests sent under the /~{namespace}/ path prefix, and the stubs added there "
            "(file stubs are shared). Calls without it act on the default namespace.",
        },
        "paths": paths,
        "components": {"schemas": _component_schemas()},
    }


def _operation_id(method: str, path: str) -> str:
    """ "GET", "/ns/{namespace}/requests/unmatched" -> "get_ns_namespace_requests_unmatched"."""
    return "_".join([method.lower(), *re.findall(r"[A-Za-z0-9]+", path)])


def _response(status: int, answer: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    """A route's answer for `status`: its own body on success and for a failed verification,
    else `{error, details}` (JSON, whatever the route's own media type)."""
    if status in (400, 401, 404, 503):
        schema, media = _ref("Error"), _JSON
    else:
        schema = answer
    return {
        "description": _STATUS_TEXT.get(status, "Response"),
        "content": {media: {"schema": schema}},
    }


def _media(route: AdminRoute) -> str:
    return _MEDIA_TYPES.get((route.method, route.path), _JSON)


# --- what each route answers ------------------------------------------------------------------


def _ref(model: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=model)}


def _object(
    properties: dict[str, Any], *, optional: Sequence[str] = (), description: str | None = None
) -> dict[str, Any]:
    """An object with these properties, each required unless named in `optional`, and no others
    (so a field the server adds without describing it fails the schemathesis run)."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        "properties": properties,
    }
    if description is not None:
        schema["description"] = description
    return schema


def _list_of(name: str, items: dict[str, Any]) -> dict[str, Any]:
    return _object({name: {"type": "array", "items": items}})


def _failed_requires(*names: str) -> dict[str, Any]:
    """If `ok` is false, these are present: what a 422 adds to a 200."""
    return {
        "if": {"properties": {"ok": {"const": False}}, "required": ["ok"]},
        "then": {"required": list(names)},
    }


_STRING: Final = {"type": "string"}
_COUNT: Final = {"type": "integer", "minimum": 0}
_SEQ: Final = {"type": "integer", "minimum": 1}
_HEADERS: Final = {"type": "object", "additionalProperties": _STRING}
_NAME_TO_VALUES: Final = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": _STRING},
}
_NEAR_MISSES: Final = {"type": "array", "maxItems": 3, "items": _ref("NearMiss")}
_NEAR_MISS_FIELDS: Final = {
    "field": {"type": "string", "description": "The first field that differed, as in stub files"},
    "expected": {"type": "string", "description": "What the matcher wanted: equals 'usd'"},
    "actual": {"description": "What the request had there (any JSON); null when it lacked it"},
}
_JOURNAL_ENTRY: Final = {
    "seq": _SEQ,
    "id": _STRING,
    "namespace": {"type": ["string", "null"]},
    "time": {"type": "string", "format": "date-time"},
    "service": {"type": ["string", "null"]},
    "method": _STRING,
    "path": {"type": "string", "description": "Percent-decoded, segment by segment"},
    "raw_path": {"type": "string", "description": "The path as sent, without the query"},
    "query": _NAME_TO_VALUES,
    "headers": _HEADERS,
    "body": {"type": "string", "description": "The body as text, or base64 (body_encoding)"},
    "json": {"description": "The body decoded as JSON; null when it is not JSON"},
    "form": _NAME_TO_VALUES,
    "matched": {"type": "boolean"},
    "stub_id": {"type": ["string", "null"]},
    "status": {"type": ["integer", "null"], "description": "null when a fault was sent"},
    "duration_ms": {"type": "number", "minimum": 0},
    "body_encoding": {"const": "base64", "description": "When the body is not UTF-8 text"},
    "body_truncated": {"const": True, "description": "When the body went over --max-body"},
    "body_size": {**_COUNT, "description": "The size of a body that was cut"},
    "error": {"type": "string", "description": "Why the answer was cut or failed"},
    "fault": {"type": "string", "description": "The fault the stub sent instead of an answer"},
    "client_cert_subject": {"type": "string", "description": "Under mTLS: CN=app,O=Example"},
    "content_encoding": {
        "type": "string",
        "description": "The request's Content-Encoding (gzip, deflate): body is decoded",
    },
    "raw_body": {
        "type": "string",
        "format": "byte",
        "description": "With content_encoding, once decoded: the body as it arrived (base64)",
    },
    "multipart": {
        "type": "array",
        "description": "The parts of a multipart/form-data body, in order",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "filename", "content_type", "size"],
            "properties": {
                "name": {"type": ["string", "null"]},
                "filename": {"type": ["string", "null"]},
                "content_type": {"type": ["string", "null"]},
                "size": _COUNT,
                "text": {"type": "string", "description": "The part's bytes as UTF-8 text"},
                "base64": {
                    "type": "string",
                    "format": "byte",
                    "description": "The part's bytes, when they are not UTF-8 text",
                },
            },
        },
    },
    "preflight": {
        "const": True,
        "description": "A CORS preflight the server answered itself (--cors, cors: true); "
        "find, count and verify pass over it unless their matcher asks for OPTIONS",
    },
    "proxied_to": {"type": "string", "description": "A proxied request: the upstream URL"},
    "upstream_status": {
        "type": ["integer", "null"],
        "description": "With proxied_to: the upstream's status; null when it did not answer",
    },
}
_JOURNAL_OPTIONAL: Final = (
    "body_encoding",
    "body_truncated",
    "body_size",
    "error",
    "fault",
    "client_cert_subject",
    "content_encoding",
    "raw_body",
    "multipart",
    "preflight",
    "proxied_to",
    "upstream_status",
)

_ANSWER_SCHEMAS: Final[dict[str, Any]] = {
    "NearMiss": {
        "description": "What came close and the first field that differed: a stub, for a "
        "request no stub matched; a recorded request, for a failed verification",
        "oneOf": [
            _object({"stub_id": _STRING, "source": _STRING, **_NEAR_MISS_FIELDS}),
            _object({"request_seq": _SEQ, "method": _STRING, "path": _STRING, **_NEAR_MISS_FIELDS}),
        ],
    },
    "Verdict": {
        **_object(
            {
                "ok": {"type": "boolean"},
                "count": {**_COUNT, "description": "How many recorded requests matched"},
                "expected": {"type": "string", "description": "exactly 1, at least 2, ..."},
                "message": {"type": "string", "description": "The headline, on one line"},
                "near_misses": _NEAR_MISSES,
            },
            optional=("expected", "message", "near_misses"),
            description="A count verification: 200 {ok, count}; a 422 adds expected, message "
            "and the recorded requests that came closest",
        ),
        **_failed_requires("expected", "message", "near_misses"),
    },
    "SequenceVerdict": {
        **_object(
            {
                "ok": {"type": "boolean"},
                "matched_seqs": {
                    "type": "array",
                    "items": _SEQ,
                    "description": "The seq of the request each step matched, in order",
                },
                "failed_step": {**_COUNT, "description": "The first step that did not happen"},
                "message": {"type": "string", "description": "The headline, on one line"},
                "near_misses": _NEAR_MISSES,
            },
            optional=("failed_step", "message", "near_misses"),
            description="A sequence verification: 200 {ok, matched_seqs}; a 422 adds the step "
            "that did not happen, message and the recorded requests that came closest to it",
        ),
        **_failed_requires("failed_step", "message", "near_misses"),
    },
    "JournalEntry": _object(
        _JOURNAL_ENTRY,
        optional=_JOURNAL_OPTIONAL,
        description="One recorded request and how the mock answered it",
    ),
    "StreamedEntry": _object(
        {**_JOURNAL_ENTRY, "near_misses": _NEAR_MISSES},
        optional=_JOURNAL_OPTIONAL,
        description="The data of one `message` event of GET requests/stream: an entry with "
        "its near misses (empty when a stub matched)",
    ),
    "UnmatchedEntry": _object(
        {**_JOURNAL_ENTRY, "near_misses": _NEAR_MISSES},
        optional=_JOURNAL_OPTIONAL,
        description="A recorded request no stub matched, with the stubs that came closest",
    ),
    "Unmatched404": _object(
        {
            "error": {"type": "string", "description": "no stub matched POST /v1/x"},
            "request": _object(
                {
                    "method": _STRING,
                    "path": _STRING,
                    "query": _NAME_TO_VALUES,
                    "headers": _HEADERS,
                    "body": _STRING,
                }
            ),
            "near_misses": _NEAR_MISSES,
        },
        description="For reference, not an admin answer: the body of the 404 that a mocked "
        "request no stub matched gets (unless an `unmatched: true` stub shapes it)",
    ),
    "Health": _object(
        {
            "status": {"const": "ok"},
            "version": _STRING,
            "state": {"type": "string", "description": "The state store: memory or redis"},
            "stubs": _COUNT,
            "requests": _COUNT,
            "dropped": _COUNT,
            "unjournaled": {
                **_COUNT,
                "description": "Mocked requests answered 503 while the shared state store was "
                "out of reach, so in no journal (a shared store only)",
            },
            "listening": {
                "type": "array",
                "items": _STRING,
                "description": "Every address the server listens on (--host, repeatable)",
            },
        },
        optional=("unjournaled",),
    ),
    "StubView": {
        "type": "object",
        "description": "A stub in the stub format, with where it came from and its hits",
        "required": ["id", "source", "hits"],
        "properties": {
            "id": _STRING,
            "source": {"type": "string", "description": "path:line of its file, or api"},
            "hits": _COUNT,
            "service": _STRING,
            "base_path": _STRING,
            "host": _STRING,
            "cors": {"const": True, "description": "Its document says cors: true"},
        },
    },
}

_ANSWER_SCHEMAS["CallbackAttempt"] = _object(
    {
        "id": {"type": "string", "description": "The callback's id (each attempt shares it)"},
        "url": _STRING,
        "method": _STRING,
        "attempt": {**_SEQ, "description": "1 for the first delivery, 2 for the first retry"},
        "outcome": {
            "enum": ["delivered", "retrying", "failed"],
            "description": "delivered: a 2xx answer; retrying: another attempt follows; "
            "failed: none follows",
        },
        "status": {"type": "integer", "description": "The application's answer"},
        "error": {"type": "string", "description": "Why no answer came, or why not sent"},
        "response_body": {"type": "string", "description": "The answer's first 4 KiB"},
        "duration_ms": {"type": "number", "minimum": 0},
        "time": {"type": "string", "format": "date-time"},
        "event": {"type": ["string", "null"], "description": "SERVICE/NAME of an event"},
        "stub_id": {"type": ["string", "null"], "description": "The stub that sent it"},
        "request": {
            "oneOf": [
                {"type": "null", "description": "Nothing was sent (see error)"},
                _object({"method": _STRING, "url": _STRING, "headers": _HEADERS, "body": _STRING}),
            ]
        },
    },
    optional=("status", "error", "response_body"),
    description="One delivery of a callback: what was sent (signature header included) and "
    "what came of it",
)

_REMOVED_ID: Final = _object({"removed": _STRING})
_ANSWERS: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("GET", "/recordings"): _list_of(
        "documents",
        _object(
            {
                "service": _STRING,
                "file": {"type": "string", "description": "Its name: SERVICE.yaml"},
                "yaml": {"type": "string", "description": "The stub file's text"},
                "files": {
                    "type": "object",
                    "description": "Body files, by their path relative to the stub file",
                    "additionalProperties": {"type": "string", "format": "byte"},
                },
            },
            description="A recorded service's stub document",
        ),
    ),
    ("DELETE", "/recordings"): _object({"cleared": _COUNT}),
    ("POST", "/recordings"): _object({"loaded": _COUNT}),
    ("GET", "/health"): _ref("Health"),
    ("POST", "/reset"): _object({"reset": {"const": True}, "removed_stubs": _COUNT}),
    ("GET", "/schema"): {"type": "object", "description": "The stub JSON Schema"},
    ("GET", "/openapi.json"): {
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "description": "This document",
    },
    ("GET", "/namespaces"): _object(
        {
            "namespaces": {
                "type": "array",
                "items": _object({"name": _STRING, "requests": _COUNT, "stubs": _COUNT}),
            },
            "limit": _COUNT,
        }
    ),
    ("DELETE", "/ns/{namespace}"): _REMOVED_ID,
    ("GET", "/stubs"): _list_of("stubs", _ref("StubView")),
    ("POST", "/stubs"): _list_of("ids", _STRING),
    ("DELETE", "/stubs"): _object({"removed": {**_COUNT, "description": "How many stubs"}}),
    ("POST", "/stubs/reload"): _object(
        {
            "stubs": _COUNT,
            "files": {"type": "array", "items": _object({"path": _STRING, "stubs": _COUNT})},
        }
    ),
    ("GET", "/stubs/{id}"): _ref("StubView"),
    ("PUT", "/stubs/{id}"): _ref("StubView"),
    ("DELETE", "/stubs/{id}"): _REMOVED_ID,
    ("GET", "/requests"): _object(
        {
            "requests": {"type": "array", "items": _ref("JournalEntry")},
            "total": _COUNT,
            "dropped": _COUNT,
        }
    ),
    ("DELETE", "/requests"): _object({"cleared": _COUNT}),
    ("POST", "/requests/find"): _list_of("requests", _ref("JournalEntry")),
    ("POST", "/requests/count"): _object({"count": _COUNT}),
    ("GET", "/requests/unmatched"): _list_of("requests", _ref("UnmatchedEntry")),
    ("POST", "/verify"): _ref("Verdict"),
    ("POST", "/verify/sequence"): _ref("SequenceVerdict"),
    ("GET", "/requests/stream"): {
        "type": "string",
        "description": "Server-sent events, never-ending: first `event: ready` (id: the seq the "
        "feed starts after; data: {after_seq, last_seq}), then one event per entry (id: its "
        "seq; data: a StreamedEntry on one line), and `: keep-alive` comments when idle",
    },
    ("GET", "/ui"): {
        "type": "string",
        "description": "The live view's page (HTML with its script and style inline)",
    },
    ("POST", "/ui/session"): _object(
        {"token_required": {"type": "boolean", "description": "Whether the server has a token"}},
        description="The token was right (or none is needed): the cookie is set when one is",
    ),
    ("DELETE", "/ui/session"): _object(
        {"token_required": {"type": "boolean", "description": "Whether the server has a token"}}
    ),
    ("GET", "/scenarios"): _object(
        {"scenarios": {"type": "object", "additionalProperties": _STRING}}
    ),
    ("PUT", "/scenarios/{name}"): _object({"name": _STRING, "state": _STRING, "initial": _STRING}),
    ("GET", "/clock"): _ref("Clock"),
    ("PUT", "/clock"): _ref("Clock"),
    ("DELETE", "/clock"): _ref("Clock"),
    ("POST", "/clock/advance"): _ref("Clock"),
    ("POST", "/callbacks"): _object({"id": {"type": "string", "description": "The callback"}}),
    ("GET", "/callbacks"): _list_of("callbacks", _ref("CallbackAttempt")),
}
"""The body each route answers with on success (and, for the verifications, with a 422)."""

UNDESCRIBED: Final[dict[str, Any]] = {"type": "object"}
"""How a route missing from `_ANSWERS` is described (tests/admin/test_meta.py fails then)."""
