"""The OpenAPI 3.1 document of the admin API, built from the same route table the app serves.

Building both from one list means a route cannot be served without being described.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from mockserver.admin.clock import CLOCK_SCHEMA
from mockserver.admin.context import NAMESPACE_PARAMETER, NAMESPACE_SEGMENT, AdminRoute
from mockserver.spec import RequestSpec, StubDocument, StubSpec

_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad input: {error, details}",
    404: "Unknown id: {error, details}",
    422: "Verification failed: {ok: false, count, expected, message, near_misses}",
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
    schemas["Clock"] = CLOCK_SCHEMA
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "details"],
        "properties": {"error": {"type": "string"}, "details": {"type": "array"}},
    }
    return schemas


def openapi_document(routes: Sequence[AdminRoute], prefix: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__.strip("_") + "_" + route.method.lower(),
            "responses": {
                str(status): _response(status, route.answer) for status in route.responses
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
                "responses": {str(status): _response(status, route.answer) for status in statuses},
                "operationId": operation["operationId"] + "_in_namespace",
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


def _response(status: int, answer: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = answer if answer is not None and status < 300 else {"type": "object"}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if status in (400, 404, 503):
        content = {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}
    return {"description": _STATUS_TEXT.get(status, "Response"), "content": content}
