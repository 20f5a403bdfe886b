"""Admin calls on callbacks: send one on demand (its own fields, or a stub document's event by
name with overrides), and list every attempt made in a namespace (PRODUCT.md section 12)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from mockserver.admin.context import AdminContext, AdminRoute, admin_handler, ok, read_json_object
from mockserver.callbacks import (
    ON_DEMAND_NAMES,
    CallbackError,
    compile_callback,
    merged_event,
    on_demand_context,
    render_call,
)
from mockserver.delivery import CallbackSender, callback_id, raise_if_refused
from mockserver.errors import AdminInputError, TemplateError
from mockserver.locations import model_errors
from mockserver.responder import json_response
from mockserver.spec import CallbackSpec
from mockserver.stub import Stub

_SEND_BODY: Final[dict[str, Any]] = {
    "description": 'A callback\'s fields ({"url": ..., "json": ..., "sign": ...}), or '
    '{"event": "stripe/payment_intent.succeeded", "url": ..., ...overrides} to send an event '
    "a stub document declares (json overrides merge into its body). The target must be a "
    "loopback address or a host allowed with --callback-allow.",
    "schema": {"$ref": "#/components/schemas/CallbackSend"},
}


class CallbacksResource:
    def __init__(self, context: AdminContext, sender: CallbackSender) -> None:
        self._context = context
        self._sender = sender

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "POST",
                "/callbacks",
                admin_handler(self.send),
                "Send a callback (webhook) to the application now; delivery goes on after the "
                "answer",
                body=_SEND_BODY,
                responses=(202, 400),
            ),
            AdminRoute(
                "GET",
                "/callbacks",
                admin_handler(self.list_attempts),
                "Every callback attempt made, oldest first",
            ),
        ]

    async def send(self, request: web.Request) -> web.Response:
        data = await read_json_object(
            request, self._context.settings, what='a callback, or {"event": ..., "url": ...}'
        )
        event_name = data.pop("event", None)
        event = None
        if event_name is not None:
            event = self._sender.events.get(event_name) if isinstance(event_name, str) else None
            if event is None:
                known = ", ".join(sorted(self._sender.events)) or "none: stub files declare them"
                message = f"unknown event {event_name!r} (known: {known})"
                raise AdminInputError(f"event: {message}", [{"field": "event", "message": message}])
            declared = event.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
            data = merged_event(declared, data)
        try:
            spec = CallbackSpec.model_validate(data)
        except ValidationError as error:
            details = model_errors(error)
            field, text = details[0]["field"], details[0]["message"]
            raise AdminInputError(f"{field}: {text}" if field else text, details) from None
        try:
            compiled = compile_callback(
                spec, ON_DEMAND_NAMES, event=event.event if event is not None else None
            )
        except CallbackError as error:
            field = ".".join(str(part) for part in error.loc)
            raise AdminInputError(
                f"{field}: {error.message}", [{"field": field, "message": error.message}]
            ) from None
        scope = await self._context.scope(request, write=True)
        context = on_demand_context(self._sender.env, await scope.state.clock())
        try:
            call = render_call(compiled, context)
        except TemplateError as error:
            raise AdminInputError(
                f"{error.field}: {error.reason}", [{"field": error.field, "message": error.reason}]
            ) from None
        raise_if_refused(call.url, self._sender.allow)
        ident = callback_id()
        self._sender.start(call, scope.state, ident)
        return json_response(202, {"id": ident})

    async def list_attempts(self, request: web.Request) -> web.Response:
        scope = await self._context.scope(request)
        return ok({"callbacks": await scope.state.attempts()})


def check_stub_targets(stubs: list[Stub], allow: tuple[str, ...]) -> None:
    """A 400 naming the host of the first callback of stubs added through the admin API whose
    URL (written out, not a template) goes where such callbacks may not: templated URLs are
    checked when they are rendered, and a refused one is recorded as a failed attempt."""
    for stub in stubs:
        for position, callback in enumerate(stub.spec.callbacks or ()):
            if not any(marker in callback.url for marker in ("{{", "{%", "{#")):
                raise_if_refused(callback.url, allow, f"{stub.id}: callbacks[{position}].url")
