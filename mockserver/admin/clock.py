"""Admin calls on the clock of a namespace: read it, freeze it or offset it, advance it, and put
it back on real time (PRODUCT.md section 14). The rules of the bodies live in `mockserver.clock`.
"""

from __future__ import annotations

import time
from typing import Any, Final

from aiohttp import web

from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    ok,
    read_json_object,
)
from mockserver.clock import REAL, advance_from_json, advanced, setting_from_json

CLOCK_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["mode", "now", "frozen", "offset_ms"],
    "additionalProperties": False,
    "properties": {
        "mode": {"type": "string", "enum": ["real", "frozen", "offset"]},
        "now": {"type": "string", "format": "date-time"},
        "frozen": {"type": ["string", "null"], "format": "date-time"},
        "offset_ms": {"type": "integer"},
    },
}
"""The clock as every call answers it; `now` is the clock's time when the call was answered."""
_SETTING: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "frozen": {
            "type": "string",
            "format": "date-time",
            "description": "Freeze the clock at this instant (RFC 3339, with a zone).",
        },
        "offset_ms": {
            "type": "integer",
            "description": "Run the clock at real time plus this many milliseconds (may be "
            "negative).",
        },
    },
    "oneOf": [{"required": ["frozen"]}, {"required": ["offset_ms"]}],
}
_ADVANCE: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ms"],
    "properties": {
        "ms": {
            "type": "integer",
            "description": "Milliseconds to move a frozen clock by, or to add to the offset of "
            "a running one (may be negative).",
        }
    },
}


class ClockResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/clock",
                admin_handler(self.read_clock),
                "The clock that now() in templates reads",
            ),
            AdminRoute(
                "PUT",
                "/clock",
                admin_handler(self.set_clock),
                "Freeze the clock at an instant, or run it at an offset from real time",
                body={
                    "description": '{"frozen": "2026-01-01T00:00:00Z"} or {"offset_ms": 3600000}',
                    "schema": _SETTING,
                },
                responses=(200, 400),
            ),
            AdminRoute(
                "DELETE",
                "/clock",
                admin_handler(self.reset_clock),
                "Put the clock back on real time",
            ),
            AdminRoute(
                "POST",
                "/clock/advance",
                admin_handler(self.advance_clock),
                "Move a frozen clock, or add to the offset of a running one",
                body={"description": '{"ms": 1000}', "schema": _ADVANCE},
                responses=(200, 400),
            ),
        ]

    async def read_clock(self, request: web.Request) -> web.Response:
        # a namespace not yet created shows the clock it would start with: the default's
        state = (await self._context.scope(request)).state
        return ok((await state.clock()).to_json(time.time()))

    async def set_clock(self, request: web.Request) -> web.Response:
        data = await read_json_object(
            request, self._context.settings, what='{"frozen": "..."} or {"offset_ms": n}'
        )
        real = time.time()
        setting = setting_from_json(data, real)  # checked before the namespace is created
        state = (await self._context.scope(request, write=True)).state
        await state.update_clock(lambda _current: setting)
        return ok(setting.to_json(real))

    async def reset_clock(self, request: web.Request) -> web.Response:
        # a namespace not yet created runs on the default's clock: putting it on real time is
        # a write
        state = (await self._context.scope(request, write=True)).state
        await state.update_clock(lambda _current: REAL)
        return ok(REAL.to_json(time.time()))

    async def advance_clock(self, request: web.Request) -> web.Response:
        ms = advance_from_json(
            await read_json_object(request, self._context.settings, what='{"ms": n}')
        )
        real = time.time()
        # checked on the current clock before the namespace is created, so a refused advance
        # writes nothing; then applied atomically (another call may have moved it meanwhile)
        advanced(await (await self._context.scope(request)).state.clock(), ms, real)
        state = (await self._context.scope(request, write=True)).state
        setting = await state.update_clock(lambda current: advanced(current, ms, real))
        return ok(setting.to_json(real))
