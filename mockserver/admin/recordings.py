"""Admin calls on recordings (PRODUCT.md §11): each recorded service's stub document, with its
body files, so a test process can write them to its own disk even when the server runs in a
container; and forgetting them."""

from __future__ import annotations

import base64

from aiohttp import web

from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    ok,
    read_json_object,
)
from mockserver.errors import AdminInputError
from mockserver.spec import RECORD_MODES


class RecordingsResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/recordings",
                admin_handler(self.list_all),
                "Each recorded service's stub document, with its body files (base64)",
            ),
            AdminRoute(
                "POST",
                "/recordings",
                admin_handler(self.load),
                "Set the namespace's record mode and load what was recorded before (a cassette)",
                body={
                    "description": '{"mode": "new_episodes", "yaml": "<stub documents, one per '
                    'service>", "files": {"__files/NAME": "<base64>"}}',
                    "schema": {
                        "type": "object",
                        "required": ["mode"],
                        "additionalProperties": False,
                        "properties": {
                            "mode": {"enum": list(RECORD_MODES)},
                            "yaml": {"type": "string"},
                            "files": {
                                "type": "object",
                                "additionalProperties": {"type": "string", "format": "byte"},
                            },
                        },
                    },
                },
                responses=(200, 400),
            ),
            AdminRoute(
                "DELETE",
                "/recordings",
                admin_handler(self.clear),
                "Forget what was recorded (its replayed stubs go too)",
            ),
        ]

    async def list_all(self, request: web.Request) -> web.Response:
        recorder = self._context.recorder
        scope = await self._context.scope(request)
        documents = [] if recorder is None else await recorder.documents(scope.state)
        return ok(
            {
                "documents": [
                    {
                        "service": document.service,
                        "file": document.file,
                        "yaml": document.yaml,
                        "files": {
                            name: base64.b64encode(content).decode("ascii")
                            for name, content in sorted(document.files.items())
                        },
                    }
                    for document in documents
                ]
            }
        )

    async def load(self, request: web.Request) -> web.Response:
        data = await read_json_object(
            request, self._context.settings, what='{"mode": ..., "yaml": ..., "files": {...}}'
        )
        mode, text, files = data.get("mode"), data.get("yaml", ""), data.get("files", {})
        unknown = sorted(set(data) - {"mode", "yaml", "files"})
        if unknown:
            raise AdminInputError(
                f"unknown field {unknown[0]!r}", [{"field": unknown[0], "message": "unknown field"}]
            )
        if mode not in RECORD_MODES:
            raise AdminInputError(
                f"mode: expected one of {', '.join(RECORD_MODES)}, got {mode!r}",
                [{"field": "mode", "message": f"one of {', '.join(RECORD_MODES)}"}],
            )
        if not isinstance(text, str):
            raise AdminInputError(
                "yaml: expected the stub documents as text",
                [{"field": "yaml", "message": "expected a string"}],
            )
        if not isinstance(files, dict):
            raise AdminInputError(
                "files: expected an object of base64 texts",
                [{"field": "files", "message": "expected an object"}],
            )
        decoded: dict[str, bytes] = {}
        for name, content in files.items():
            try:
                decoded[name] = base64.b64decode(content, validate=True)
            except (TypeError, ValueError):
                raise AdminInputError(
                    f"files.{name}: not base64",
                    [{"field": f"files.{name}", "message": "not base64"}],
                ) from None
        recorder = self._context.recorder
        if recorder is None:
            raise AdminInputError("this server records nothing", [])
        scope = await self._context.scope(request, write=True)
        return ok({"loaded": await recorder.load(scope, mode, text, decoded)})

    async def clear(self, request: web.Request) -> web.Response:
        recorder = self._context.recorder
        scope = await self._context.scope(request)
        cleared = 0 if recorder is None else await recorder.clear(scope)
        return ok({"cleared": cleared})
