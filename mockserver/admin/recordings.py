"""Admin calls on recordings (PRODUCT.md §11): each recorded service's stub document, with its
body files, so a test process can write them to its own disk even when the server runs in a
container; and forgetting them."""

from __future__ import annotations

import base64

from aiohttp import web

from mockserver.admin.context import AdminContext, AdminRoute, admin_handler, ok


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
                "DELETE",
                "/recordings",
                admin_handler(self.clear),
                "Forget what was recorded (its replayed stubs go too)",
            ),
        ]

    async def list_all(self, request: web.Request) -> web.Response:
        recorder = self._context.recorder
        scope = await self._context.scope(request)
        documents = [] if recorder is None else recorder.documents(scope.namespace)
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

    async def clear(self, request: web.Request) -> web.Response:
        recorder = self._context.recorder
        scope = await self._context.scope(request)
        cleared = 0 if recorder is None else await recorder.clear(scope)
        return ok({"cleared": cleared})
