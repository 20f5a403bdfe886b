"""Admin calls on scenario states: read them all, set one."""

from __future__ import annotations

from aiohttp import web

from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    ok,
    read_json_object,
)
from mockserver.errors import AdminInputError, NotFoundError
from mockserver.state import STARTED

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


class ScenariosResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute("GET", "/scenarios", admin_handler(self.list_all), "Every scenario's state"),
            AdminRoute(
                "PUT",
                "/scenarios/{name}",
                admin_handler(self.set_state),
                "Move a scenario to a state",
                body={
                    "description": '{"state": "..."}',
                    "schema": {
                        "type": "object",
                        "required": ["state"],
                        "additionalProperties": False,
                        "properties": {"state": {"type": "string", "minLength": 1}},
                    },
                },
                responses=(200, 400, 404),
                parameters=(_NAME,),
            ),
        ]

    async def list_all(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request)
        states = await scope.state.scenarios()
        names = scope.scenario_names() | set(states)
        return ok({"scenarios": {name: states.get(name, STARTED) for name in sorted(names)}})

    async def set_state(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        scope = await self._context.scope(request, write=True)
        if name not in scope.scenario_names():
            raise NotFoundError(f"no stub uses scenario {name!r}")
        data = await read_json_object(request, self._context.settings, what='{"state": "..."}')
        value = data.get("state")
        if not isinstance(value, str) or not value or set(data) != {"state"}:
            raise AdminInputError(
                'expected {"state": "..."} with a non-empty string',
                [{"field": "state", "message": "expected a non-empty string"}],
            )
        await scope.state.set_scenario(name, value)
        return ok({"name": name, "state": value, "initial": STARTED})
