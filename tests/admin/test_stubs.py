"""Admin calls on stubs over real HTTP: add (JSON, YAML, documents), read, replace, remove."""

from __future__ import annotations

from pathlib import Path

from tests.serving import ServeStubs, write_stubs

FILE_STUBS = {"s.yaml": "- id: from-file\n  request: {path: /file}\n  response: {body: file}\n"}


async def test_add_one_stub_as_json_then_it_answers(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    response = await client.post(
        "/__admin/stubs",
        json={"id": "api-1", "request": {"path": "/api"}, "response": {"json": {"ok": True}}},
    )
    assert response.status == 201
    assert await response.json() == {"ids": ["api-1"]}
    assert await (await client.get("/api")).json() == {"ok": True}
    listed = await (await client.get("/__admin/stubs/api-1")).json()
    assert listed["source"] == "api"
    assert listed["hits"] == 1
    assert listed["request"] == {"path": "/api"}


async def test_add_a_yaml_document_with_several_stubs(serve: ServeStubs) -> None:
    client = await serve()
    body = """
service: pay
base_path: /pay
stubs:
  - id: a
    request: {path: /a}
  - id: b
    request: {path: /b}
---
- id: c
  request: {path: /c}
"""
    response = await client.post(
        "/__admin/stubs", data=body, headers={"Content-Type": "application/yaml"}
    )
    assert response.status == 201
    assert (await response.json())["ids"] == ["a", "b", "c"]
    assert (await client.get("/pay/a")).status == 200
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert (entry["service"], entry["stub_id"]) == ("pay", "a")


async def test_list_shows_every_stub_with_source_and_hits(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    await client.get("/file")
    await client.get("/file")
    stubs = (await (await client.get("/__admin/stubs")).json())["stubs"]
    assert len(stubs) == 1
    assert stubs[0]["id"] == "from-file"
    assert stubs[0]["source"].endswith("s.yaml:1")
    assert stubs[0]["hits"] == 2


async def test_invalid_stub_is_400_with_field_paths_and_nothing_is_added(
    serve: ServeStubs,
) -> None:
    client = await serve(FILE_STUBS)
    response = await client.post(
        "/__admin/stubs",
        json=[
            {"id": "fine", "request": {}},
            {"request": {"heders": {}}, "response": {"status": 7}},
        ],
    )
    assert response.status == 400
    error = await response.json()
    fields = sorted(detail["field"] for detail in error["details"])
    assert fields == ["request.heders", "response.status"]
    ids = [stub["id"] for stub in (await (await client.get("/__admin/stubs")).json())["stubs"]]
    assert ids == ["from-file"]


async def test_malformed_bodies_are_400_never_500(serve: ServeStubs) -> None:
    client = await serve()
    for body, content_type in [
        ("{not json", "application/json"),
        ("", "application/json"),
        ("null", "application/json"),
        ("key: [unclosed", "application/yaml"),
        ("\udcff", "text/plain"),
    ]:
        data = body.encode("utf-8", "surrogateescape")
        response = await client.post(
            "/__admin/stubs", data=data, headers={"Content-Type": content_type}
        )
        assert response.status == 400, body
        error = await response.json()
        assert error["error"]
        assert isinstance(error["details"], list)


async def test_duplicate_id_is_400_naming_the_existing_stub(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    response = await client.post("/__admin/stubs", json={"id": "from-file", "request": {}})
    assert response.status == 400
    assert "already exists" in (await response.json())["error"]


async def test_replace_and_remove_one_stub(serve: ServeStubs) -> None:
    client = await serve()
    await client.post("/__admin/stubs", json={"id": "x", "request": {"path": "/x"}})
    response = await client.put(
        "/__admin/stubs/x", json={"request": {"path": "/y"}, "response": {"status": 204}}
    )
    assert response.status == 200
    assert (await response.json())["request"] == {"path": "/y"}
    assert (await client.get("/y")).status == 204
    assert (await client.get("/x")).status == 404
    assert (await client.delete("/__admin/stubs/x")).status == 200
    assert (await client.get("/y")).status == 404


async def test_unknown_ids_are_404(serve: ServeStubs) -> None:
    client = await serve()
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, "/__admin/stubs/nope", json={"request": {}})
        assert response.status == 404, method
        assert (await response.json())["error"] == "no stub with id 'nope'"


async def test_delete_all_removes_only_api_stubs(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    await client.post("/__admin/stubs", json=[{"request": {"path": "/1"}}, {"request": {}}])
    response = await client.delete("/__admin/stubs")
    assert await response.json() == {"removed": 2}
    stubs = (await (await client.get("/__admin/stubs")).json())["stubs"]
    assert [stub["id"] for stub in stubs] == ["from-file"]


async def test_reload_swaps_files_and_keeps_api_stubs(serve: ServeStubs, tmp_path: Path) -> None:
    client = await serve(FILE_STUBS)
    await client.post("/__admin/stubs", json={"id": "api", "request": {"path": "/api"}})
    write_stubs(tmp_path / "stubs", {"s.yaml": "- id: reloaded\n  request: {path: /new}\n"})
    response = await client.post("/__admin/stubs/reload")
    assert response.status == 200
    assert (await response.json())["stubs"] == 1
    ids = sorted(s["id"] for s in (await (await client.get("/__admin/stubs")).json())["stubs"])
    assert ids == ["api", "reloaded"]
    assert (await client.get("/new")).status == 200


async def test_failed_reload_keeps_the_old_set_and_lists_every_error(
    serve: ServeStubs, tmp_path: Path
) -> None:
    client = await serve(FILE_STUBS)
    write_stubs(
        tmp_path / "stubs",
        {"s.yaml": "- request: {heders: {}}\n", "t.yaml": "- request: {path: nope}\n"},
    )
    response = await client.post("/__admin/stubs/reload")
    assert response.status == 400
    error = await response.json()
    assert "previous stubs stay in force" in error["error"]
    sources = [detail["source"].rsplit("/", 1)[-1] for detail in error["details"]]
    assert sources == ["s.yaml:1", "t.yaml:1"]
    assert (await client.get("/file")).status == 200
