"""Admin calls on stubs: list, add, read, replace, remove, reload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web

from mockserver.admin.callbacks import check_stub_targets
from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    created,
    ok,
    parse_json,
    read_text,
)
from mockserver.errors import AdminInputError, StubLoadError
from mockserver.loader import LoadedStubs, load_paths, parse_stub_data, parse_stub_text
from mockserver.store import ScopedStore
from mockserver.stub import Stub

_STUB_BODY: dict[str, Any] = {
    "description": "One stub, a list of stubs, or a whole stub document (JSON or YAML; "
    "several YAML documents allowed). See GET {prefix}/schema.",
    "schema": {
        "anyOf": [
            {"$ref": "#/components/schemas/Stub"},
            {"type": "array", "items": {"$ref": "#/components/schemas/Stub"}},
            {"$ref": "#/components/schemas/StubDocument"},
        ]
    },
    "yaml": True,
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


class StubsResource:
    def __init__(
        self, context: AdminContext, on_reload: Callable[[LoadedStubs], None] | None = None
    ) -> None:
        self._context = context
        self._on_reload = on_reload  # what else a reload of the files swaps in (their events)

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute("GET", "/stubs", admin_handler(self.list_all), "List every stub, with hits"),
            AdminRoute(
                "POST",
                "/stubs",
                admin_handler(self.add),
                "Add stubs",
                body=_STUB_BODY,
                responses=(201, 400),
            ),
            AdminRoute(
                "DELETE", "/stubs", admin_handler(self.remove_api), "Remove stubs added by API"
            ),
            AdminRoute(
                "POST",
                "/stubs/reload",
                admin_handler(self.reload),
                "Re-read the stub files and swap them in at once",
                responses=(200, 400),
            ),
            AdminRoute(
                "GET",
                "/stubs/{id}",
                admin_handler(self.read),
                "Read one stub",
                responses=(200, 404),
                parameters=(_ID,),
            ),
            AdminRoute(
                "PUT",
                "/stubs/{id}",
                admin_handler(self.replace),
                "Replace one stub",
                body=_STUB_BODY,
                responses=(200, 400, 404),
                parameters=(_ID,),
            ),
            AdminRoute(
                "DELETE",
                "/stubs/{id}",
                admin_handler(self.remove),
                "Remove one stub",
                responses=(200, 404),
                parameters=(_ID,),
            ),
        ]

    async def describe(self, scope: ScopedStore, stub: Stub) -> dict[str, Any]:
        described = stub.describe()
        described["hits"] = (await scope.state.hits()).get(stub.id, 0)
        return described

    async def list_all(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request)
        hits = await scope.state.hits()
        stubs = []
        for stub in scope.stubs:
            described = stub.describe()
            described["hits"] = hits.get(stub.id, 0)
            stubs.append(described)
        return ok({"stubs": stubs})

    async def _parse(self, request: web.Request) -> list[Stub]:
        settings = self._context.settings
        text = await read_text(request, settings.max_body)
        if not text.strip():
            raise AdminInputError(
                "empty body: expected a stub, a list of stubs or a stub document",
                [{"field": "body", "message": "expected a stub"}],
            )
        content_type = request.content_type.lower()
        if "json" in content_type:
            data = parse_json(text, what="a stub, a list of stubs or a stub document")
            stubs = parse_stub_data(data, stub_dirs=settings.stubs)
        else:
            stubs = parse_stub_text(text, stub_dirs=settings.stubs)
        if not stubs:
            raise AdminInputError(
                "the body holds no stub", [{"field": "body", "message": "expected a stub"}]
            )
        check_stub_targets(stubs, settings.callback_allow)
        return stubs

    async def add(self, request: web.Request) -> web.Response:
        stubs = await self._parse(request)
        ids = await (await self._context.scope(request, write=True)).add(stubs)
        return created({"ids": ids})

    async def read(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request)
        return ok(await self.describe(scope, scope.get(request.match_info["id"])))

    async def replace(self, request: web.Request) -> web.Response:
        stub_id = request.match_info["id"]
        scope = await self._context.scope(request, write=True)
        scope.get(stub_id)
        stubs = await self._parse(request)
        if len(stubs) != 1:
            raise AdminInputError(
                f"PUT takes exactly one stub, got {len(stubs)}",
                [{"field": "body", "message": "expected one stub"}],
            )
        stub = stubs[0]
        if stub.spec.id is None:  # the URL names it
            stub = _with_id(stub, stub_id)
        return ok(await self.describe(scope, await scope.replace(stub_id, stub)))

    async def remove(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request, write=True)
        stub = await scope.remove(request.match_info["id"])
        return ok({"removed": stub.id})

    async def remove_api(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request)
        return ok({"removed": await scope.remove_api_stubs()})

    async def reload(self, request: web.Request) -> web.Response:
        settings = self._context.settings
        try:
            loaded = load_paths(settings.stubs)
        except StubLoadError as error:
            raise AdminInputError(
                f"reload failed, the previous stubs stay in force: {len(error.errors)} "
                f"error{'s' if len(error.errors) != 1 else ''}\n{error}",
                error.details,
            ) from None
        await self._context.store.swap_files(loaded.stubs)
        if self._on_reload is not None:
            self._on_reload(loaded)
        return ok(
            {
                "stubs": len(loaded.stubs),
                "files": [{"path": path, "stubs": count} for path, count in loaded.files],
            }
        )


def _with_id(stub: Stub, stub_id: str) -> Stub:
    return replace(stub, id=stub_id, spec=stub.spec.model_copy(update={"id": stub_id}))
