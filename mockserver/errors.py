"""Every server-side error type. Imports nothing from the package.

Each error knows the HTTP status an admin call answers with and the `details` list that goes
into `{"error", "details"}`, so one middleware can render them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MockServerError(Exception):
    """Base of every error the server reports to a user."""

    status: int = 400

    def __init__(self, message: str, details: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def payload(self) -> dict[str, Any]:
        """The JSON body of the error's answer."""
        return {"error": self.message, "details": self.details}


class StubError(MockServerError):
    """A stub that cannot be used. `source` is "path:line", or "api" for an admin call."""

    def __init__(self, source: str, field: str, message: str) -> None:
        # the text (what str() gives) is built once, here; `message` keeps the bare reason
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")
        self.source, self.field, self.message = source, field, message

    def as_detail(self) -> dict[str, str]:
        return {"source": self.source, "field": self.field, "message": self.message}


class StubLoadError(MockServerError):
    """Every StubError of one load, reported together rather than only the first."""

    def __init__(self, errors: Sequence[StubError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        noun = "error" if count == 1 else "errors"
        super().__init__(
            f"{count} stub {noun}", details=[error.as_detail() for error in self.errors]
        )

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


class AdminInputError(MockServerError):
    """A malformed admin call: bad JSON, a wrong type, a missing field."""

    status = 400


class NotFoundError(MockServerError):
    """An admin call that names a stub or other resource that does not exist."""

    status = 404


class NamespaceLimitError(MockServerError):
    """A new namespace would exceed --max-namespaces."""

    status = 503


class StateUnavailableError(MockServerError):
    """The shared state store (Redis) cannot be reached or cannot answer now: the call is
    answered 503 naming the store, and the server carries on once the store is back."""

    status = 503

    def __init__(self, store: str, reason: str) -> None:
        super().__init__("state store unavailable")
        self.store, self.reason = store, reason

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, "state": self.store, "reason": self.reason, "details": []}


class StartupError(MockServerError):
    """The server cannot start: a port in use, a missing stub directory."""


class TemplateCompileError(MockServerError):
    """A response template that does not compile; the loader adds the stub's `path:line`.

    `field` is spelled as in the stub file ("response.json.items[0].id"), `loc` is the same path as
    a tuple below the value the loader passed in (("items", 0, "id")), and `line` is the line
    within the template text (1 for a one-line template).
    """

    def __init__(self, field: str, loc: tuple[str | int, ...], line: int, reason: str) -> None:
        self.field, self.loc, self.line, self.reason = field, loc, line, reason
        super().__init__(f"{field}: {reason}")


class TemplateError(MockServerError):
    """A response template that failed to render; the caller names the stub and answers 500."""

    status = 500

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}" if field else reason)
