"""Health, reset, schema, the OpenAPI document, and unknown admin paths."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from mockserver.admin.openapi import UNDESCRIBED
from tests.serving import ServeStubs


async def test_health(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {path: /a}\n"})
    await client.get("/a")
    health = await (await client.get("/__admin/health")).json()
    assert health["status"] == "ok"
    assert (health["stubs"], health["requests"], health["dropped"]) == (1, 1, 0)
    assert isinstance(health["version"], str)


async def test_reset_clears_journal_hits_and_api_stubs_but_not_seq(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- id: f\n  request: {path: /a}\n"})
    await client.post("/__admin/stubs", json={"id": "api", "request": {"path": "/b"}})
    await client.get("/a")
    await client.get("/b")
    assert (await client.post("/__admin/reset")).status == 200
    stubs = (await (await client.get("/__admin/stubs")).json())["stubs"]
    assert [(stub["id"], stub["hits"]) for stub in stubs] == [("f", 0)]
    await client.get("/a")
    entries = (await (await client.get("/__admin/requests")).json())["requests"]
    assert [entry["seq"] for entry in entries] == [3]


async def test_schema_is_served(serve: ServeStubs) -> None:
    client = await serve()
    schema = await (await client.get("/__admin/schema")).json()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate([{"request": {"path": "/x"}}], schema)


async def test_openapi_describes_every_route_the_app_serves(serve: ServeStubs) -> None:
    client = await serve()
    document: dict[str, Any] = await (await client.get("/__admin/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = set()
    for resource in client.server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path.startswith("/__admin") or "{tail" in path:
            continue  # the mocked surface and the admin catch-all that explains mistakes
        for route in resource:
            served.add((route.method, path))
    assert served == described
    assert len(served) >= 18


async def test_openapi_document_is_valid_and_describes_every_answer(serve: ServeStubs) -> None:
    client = await serve()
    document: dict[str, Any] = await (await client.get("/__admin/openapi.json")).json()
    validate(document)  # OpenAPI 3.1, as client generators and linters read it
    operations = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(set(ids)) == len(ids)
    # derived from method and path, so a handler's name does not leak into generated clients
    assert "get_requests_unmatched" in ids
    assert {"get_scenarios", "get_stubs", "get_ns_namespace_scenarios"} <= set(ids)
    for method, path, operation in operations:
        for status, answer in operation["responses"].items():
            (schema,) = (media["schema"] for media in answer["content"].values())
            assert schema != UNDESCRIBED, f"{method} {path} -> {status} has no schema"
    schemas = document["components"]["schemas"]
    verify = document["paths"]["/__admin/verify"]["post"]["responses"]
    assert verify["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Verdict"
    }
    assert {"NearMiss", "Verdict", "SequenceVerdict", "JournalEntry", "Unmatched404"} <= set(
        schemas
    )


async def test_unmatched_404_body_is_as_documented(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- id: a\n  request: {method: POST, path: /a}\n"})
    document: dict[str, Any] = await (await client.get("/__admin/openapi.json")).json()
    body = await (await client.get("/a?x=1")).json()
    assert body["near_misses"][0]["stub_id"] == "a"
    # the mocked 404 is no admin answer: its schema is there for reference, checked here
    schema = {
        "$ref": "#/components/schemas/Unmatched404",
        "components": document["components"],
    }
    jsonschema.Draft202012Validator(schema).validate(body)
    body["near_misses"][0]["score"] = 1.0  # what the schema does not describe, it refuses
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(body)


async def test_unknown_admin_paths_and_methods_are_json_errors(serve: ServeStubs) -> None:
    client = await serve()
    missing = await client.get("/__admin/nothing-here")
    assert missing.status == 404
    assert "openapi.json" in (await missing.json())["details"][0]["message"]
    wrong = await client.post("/__admin/health")
    assert wrong.status == 405
    # neither was recorded as a mocked request
    assert (await (await client.get("/__admin/health")).json())["requests"] == 0
