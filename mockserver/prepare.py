"""Response compilation: a `ResponseSpec` -> the `PreparedResponse` the server sends, at load.

Everything an answer can be before a request arrives is done here, once: JSON serialised, a
`body_file` read (only inside the stub directories), SSE events framed, the default Content-Type
set, templates compiled. Failures are `ResponseError`s that carry the field path inside the
response, so the caller places them at `path:line`. The only reads are body files.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pydantic import JsonValue

from mockserver.errors import TemplateCompileError
from mockserver.locations import Loc, format_loc
from mockserver.spec import ResponseSpec, SseEvent, header_lines
from mockserver.stub import PreparedResponse, ResponseTemplates, json_bytes
from mockserver.templating import CONTEXT_NAMES, Renderable, compile_template_value


class ResponseError(Exception):
    """A response that cannot be prepared, at `loc` inside it (("body_file",)).

    `line` is the line within a template's text (1 for a one-line template), None otherwise.
    """

    def __init__(self, loc: Loc, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.loc, self.message, self.line = loc, message, line


def prepare_response(
    response: ResponseSpec,
    base_dir: Path,
    stub_dirs: Sequence[Path],
    names: frozenset[str] = CONTEXT_NAMES,
) -> PreparedResponse:
    """The answer as sent: headers with their Content-Type, body bytes or stream frames.

    `body_file` is relative to `base_dir` and must resolve inside one of `stub_dirs`; `names`
    are the variables a template may read.

    Raises:
        ResponseError: an unreadable body file, a template that does not compile, text that
            is not valid Unicode.
    """
    try:
        return _prepare(response, base_dir, stub_dirs, names)
    except UnicodeEncodeError:
        raise ResponseError(
            (), "holds an unpaired surrogate (such as \\ud800): not valid Unicode"
        ) from None


SERVER_FRAMED: Final = frozenset(("content-length", "transfer-encoding", "connection"))
"""Headers the HTTP layer owns: the server computes them, a stub's are not sent as written."""


def ignored_headers(response: ResponseSpec) -> list[tuple[str, str]]:
    """The stub headers the server sets itself, with why each is dropped (for a load warning).

    `Connection: close` is not ignored: it closes the connection after the answer."""
    ignored = []
    for name, value in header_lines(response.headers):
        lowered = name.lower()
        if lowered == "connection" and _closes(value):
            continue
        if lowered == "content-length" and _head_length(response) is not None:
            continue  # answers HEAD as written
        if lowered in SERVER_FRAMED:
            ignored.append((name, _WHY_IGNORED[lowered]))
    return ignored


_WHY_IGNORED: Final = {
    "content-length": "computed by the server from the body; the stub's value is not sent",
    "transfer-encoding": "chosen by the server for the answer; the stub's value is not sent",
    "connection": "the server keeps the connection open unless it is 'close'; not sent",
}


def _head_length(response: ResponseSpec) -> str | None:
    """The Content-Length of a response without a body, which a HEAD answer sends as written."""
    if response.has_json or any(
        value is not None
        for value in (response.body, response.body_file, response.sse, response.chunks)
    ):
        return None
    lengths = [
        value for name, value in header_lines(response.headers) if name.lower() == "content-length"
    ]
    return lengths[0] if len(lengths) == 1 and lengths[0].isdigit() else None


def _closes(value: str) -> bool:
    return "close" in (token.strip().lower() for token in value.split(","))


def _prepare(
    response: ResponseSpec, base_dir: Path, stub_dirs: Sequence[Path], names: frozenset[str]
) -> PreparedResponse:
    headers = [
        (name, value)
        for name, value in header_lines(response.headers)
        if name.lower() not in SERVER_FRAMED
    ]
    close = any(
        name.lower() == "connection" and _closes(value)
        for name, value in header_lines(response.headers)
    )
    has_type = any(name.lower() == "content-type" for name, _ in headers)
    stream: tuple[bytes, ...] | None = None
    interval = 0
    if response.sse is not None:
        body, content_type = b"", "text/event-stream; charset=utf-8"
        stream = tuple(sse_frame(event) for event in response.sse.events)
        interval = response.sse.interval_ms
        if not any(name.lower() == "cache-control" for name, _ in headers):
            headers.append(("Cache-Control", "no-cache"))
    elif response.chunks is not None:
        body, content_type = b"", "text/plain; charset=utf-8"
        stream = tuple(part.encode("utf-8") for part in response.chunks.parts)
        interval = response.chunks.interval_ms
    elif response.has_json:
        body = json_bytes(response.json_)
        content_type = "application/json"
    elif response.body_file is not None:
        body, content_type = _read_body_file(response.body_file, base_dir, stub_dirs)
    elif response.body is not None:
        body = response.body.encode("utf-8")
        content_type = "text/plain; charset=utf-8"
    else:
        body, content_type = b"", ""
    if content_type and not has_type:
        headers.append(("Content-Type", content_type))
    delay = response.delay_ms
    templates = _compile_templates(response, names) if response.template else None
    return PreparedResponse(
        response.status,
        tuple(headers),
        body,
        delay_ms=None if delay is None else (delay.min, delay.max),
        fault=response.fault,
        stream=stream,
        interval_ms=interval,
        templates=templates,
        fixed=response.is_fixed,
        close=close,
        proxy=response.proxy,
        head_length=_head_length(response),
    )


def sse_frame(event: SseEvent) -> bytes:
    """One event as text/event-stream: optional id/event/retry lines, data lines, blank line.

    An object or list is JSON on one line; a string goes verbatim (`data: [DONE]`), one `data:`
    line per line of text.
    """
    lines = []
    if event.id is not None:
        lines.append(f"id: {event.id}")
    if event.event is not None:
        lines.append(f"event: {event.event}")
    if event.retry is not None:
        lines.append(f"retry: {event.retry}")
    data = event.data
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _read_body_file(relative: str, base_dir: Path, stub_dirs: Sequence[Path]) -> tuple[bytes, str]:
    loc = ("body_file",)
    try:
        target = (base_dir / relative).resolve()  # follows symlinks: a link out is caught below
    except (ValueError, OSError) as error:  # a NUL byte, a name past the system's limits
        reason = getattr(error, "strerror", None) or str(error)
        raise ResponseError(loc, f"{relative!r} is not a usable file path: {reason}") from None
    if not any(target.is_relative_to(directory) for directory in stub_dirs):
        raise ResponseError(loc, f"{relative!r} resolves outside the stub directories")
    try:
        body = target.read_bytes()
    except FileNotFoundError:
        raise ResponseError(loc, f"{relative!r} does not exist ({target})") from None
    except OSError as error:
        raise ResponseError(loc, f"{relative!r} cannot be read: {error.strerror}") from None
    guessed, _ = mimetypes.guess_type(target.name)
    content_type = guessed or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/json", "application/xml"):
        content_type += "; charset=utf-8"
    return body, content_type


def _compile_templates(response: ResponseSpec, names: frozenset[str]) -> ResponseTemplates:
    headers: list[tuple[str, Renderable]] = []
    for name, value in response.headers.items():
        if name.lower() in SERVER_FRAMED:
            continue
        if isinstance(value, list):  # a repeated header: one line, and one template, per value
            headers.extend(
                (name, _compile_at(text, ("headers", name, index), names))
                for index, text in enumerate(value)
            )
        else:
            headers.append((name, _compile_at(value, ("headers", name), names)))
    body: Renderable | None = None
    if response.has_json:
        body = _compile_at(response.json_, ("json",), names)
    elif response.body is not None:
        body = _compile_at(response.body, ("body",), names)
    return ResponseTemplates(tuple(headers), body, body_is_json=response.has_json)


def _compile_at(value: JsonValue, loc: Loc, names: frozenset[str]) -> Renderable:
    try:
        return compile_template_value(value, format_loc(("response", *loc)), names)
    except TemplateCompileError as error:
        raise ResponseError(
            (*loc, *error.loc), f"template: {error.reason}", line=error.line
        ) from None
