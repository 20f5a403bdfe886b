"""Stub files -> YAML nodes with lines -> spec models -> Stub records, or every StubError.

The only module that reads files. YAML is composed by hand (not `safe_load`) to keep each node's
line, so a pydantic error's `loc` maps back to `path:line`. Every file is read and every stub
validated before failing, so one run reports all errors. `body_file`s are read here, once, and
must resolve inside a stub directory.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from mockserver.errors import StubError, StubLoadError, TemplateCompileError
from mockserver.matching import compile_request
from mockserver.spec import (
    BodyMatcher,
    DocumentHeader,
    PathMatcher,
    RequestSpec,
    ResponseSpec,
    SseEvent,
    StubSpec,
    ValueMatcher,
)
from mockserver.stub import (
    API_SOURCE,
    Origin,
    PreparedResponse,
    ResponseTemplates,
    Stub,
    json_bytes,
)
from mockserver.templating import (
    CONTEXT_NAMES,
    UNMATCHED_CONTEXT_NAMES,
    Renderable,
    compile_template_value,
)

STUB_SUFFIXES: Final = (".yaml", ".yml", ".json")
BODY_FILES_DIR: Final = "__files"
_KNOWN_FIELDS: Final = sorted(
    {
        (info.alias or name)
        for model in (
            StubSpec,
            RequestSpec,
            ResponseSpec,
            BodyMatcher,
            ValueMatcher,
            PathMatcher,
            DocumentHeader,
        )
        for name, info in model.model_fields.items()
    }
)


@dataclass(frozen=True, slots=True)
class LoadedStubs:
    """What one load produced: the stubs in file order and how many each file held."""

    stubs: tuple[Stub, ...]
    files: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class _Context:
    """Where stubs come from: the directories `body_file` may reach, and the origin."""

    stub_dirs: tuple[Path, ...]
    origin: Origin
    errors: list[StubError] = field(default_factory=list)
    stubs: list[Stub] = field(default_factory=list)


def find_stub_files(stub_dirs: Sequence[Path]) -> list[Path]:
    """Every *.yaml|*.yml|*.json under each directory, recursively, sorted; not under __files.

    Hidden names are skipped, symlinks followed, and a file reached by several paths is loaded
    once, under the first path in sorted order. So a Kubernetes ConfigMap mount (`stripe.yaml ->
    ..data/stripe.yaml`, `..data -> ..2026_01_02_...`: both hidden) gives each file once, named
    as the user mounted it, and a symlink to a directory above ends the walk there.
    """
    found: list[Path] = []
    seen: set[Path] = set()  # resolved files, across every directory
    for directory in stub_dirs:
        files: list[tuple[tuple[str, ...], Path]] = []
        # each folder with the resolved folders above it: a symlink back up is not walked
        pending: list[tuple[Path, tuple[str, ...], frozenset[Path]]] = [
            (directory, (), frozenset())
        ]
        while pending:
            folder, parts, above = pending.pop()
            try:
                real = folder.resolve()
                entries = [] if real in above else list(folder.iterdir())
            except OSError:  # unreadable, or a link that points nowhere: not a stub directory
                continue
            for entry in entries:
                relative = (*parts, entry.name)
                if entry.is_dir():
                    if not _skipped(relative, directory=True):
                        pending.append((entry, relative, above | {real}))
                elif (
                    entry.suffix.lower() in STUB_SUFFIXES
                    and entry.is_file()
                    and not _skipped(relative)
                ):
                    files.append((relative, entry))
        for _, path in sorted(files):
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                found.append(path)
    return found


def _skipped(parts: tuple[str, ...], *, directory: bool = False) -> bool:
    # body files, and hidden files such as editors' swap and lock files (and ConfigMaps' ..data)
    inside = parts if directory else parts[:-1]
    return BODY_FILES_DIR in inside or any(part.startswith(".") for part in parts)


def load_paths(stub_dirs: Sequence[Path]) -> LoadedStubs:
    """Load every stub file under `stub_dirs`; raise StubLoadError with every error found."""
    missing = [str(directory) for directory in stub_dirs if not directory.is_dir()]
    if missing:
        raise StubLoadError(
            [StubError(path, "", "stub directory does not exist") for path in missing]
        )
    context = _Context(tuple(directory.resolve() for directory in stub_dirs), "file")
    counts: list[tuple[str, int]] = []
    for path in find_stub_files(stub_dirs):
        before = len(context.stubs)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            context.errors.append(StubError(f"{path}:1", "", f"not UTF-8 text: {error.reason}"))
            continue
        except OSError as error:
            context.errors.append(StubError(f"{path}:1", "", f"cannot read: {error.strerror}"))
            continue
        _load_text(text, str(path), path.parent, path.stem, context)
        counts.append((str(path), len(context.stubs) - before))
    _check_unique_ids(context.stubs, context.errors)
    if context.errors:
        raise StubLoadError(context.errors)
    return LoadedStubs(tuple(context.stubs), tuple(counts))


def parse_stub_text(text: str, *, stub_dirs: Sequence[Path], label: str = API_SOURCE) -> list[Stub]:
    """Stubs from an admin call's body (JSON or YAML: one stub, a list, or documents)."""
    base_dir = stub_dirs[0].resolve() if stub_dirs else Path.cwd()
    context = _Context(tuple(directory.resolve() for directory in stub_dirs), "api")
    _load_text(text, label, base_dir, label, context)
    _check_unique_ids(context.stubs, context.errors)
    if context.errors:
        raise StubLoadError(context.errors)
    return context.stubs


def parse_stub_data(data: Any, *, stub_dirs: Sequence[Path], label: str = API_SOURCE) -> list[Stub]:
    """Stubs from already-parsed JSON, re-read as YAML (JSON's superset) to share one path."""
    return parse_stub_text(json.dumps(data, indent=1), stub_dirs=stub_dirs, label=label)


def _load_text(text: str, name: str, base_dir: Path, stem: str, context: _Context) -> None:
    index = 0
    try:
        for node, data in _documents(text):
            for stub_node, stub_data, header in _stubs_of(node, data, name, context):
                stub = _build_stub(
                    stub_node, stub_data, header, name, base_dir, f"{stem}:{index}", context
                )
                index += 1
                if stub is not None:
                    context.stubs.append(stub)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        column = f" (column {mark.column + 1})" if mark else ""
        problem = error.problem or error.context or "malformed YAML"
        context.errors.append(StubError(f"{name}:{line}", "", f"malformed YAML: {problem}{column}"))
    except yaml.YAMLError as error:
        context.errors.append(StubError(f"{name}:1", "", f"malformed YAML: {error}"))


def _documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """Each YAML document as (node tree with marks, constructed Python data)."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def _stubs_of(
    node: yaml.Node, data: Any, name: str, context: _Context
) -> Iterator[tuple[yaml.Node, Any, DocumentHeader]]:
    """A document's stubs as (node, data) pairs, with the document's own fields."""
    if data is None:
        return
    if isinstance(data, list):
        header = DocumentHeader(stubs=[])
        yield from _items(node, data, header)
        return
    if isinstance(data, dict) and "stubs" in data:
        try:
            header = DocumentHeader.model_validate(data)
        except ValidationError as error:
            context.errors.extend(_located(error, node, name, prefix=()))
            return
        stubs_node = _child(node, "stubs")
        if stubs_node is not None:
            yield from _items(stubs_node, header.stubs, header)
        return
    if isinstance(data, dict):  # one stub on its own (admin calls, short files)
        if any(key in data for key in ("service", "base_path", "host")):
            header_data = {
                key: data.pop(key) for key in ("service", "base_path", "host") if key in data
            }
            try:
                header = DocumentHeader.model_validate({**header_data, "stubs": []})
            except ValidationError as error:
                context.errors.extend(_located(error, node, name, prefix=()))
                return
        else:
            header = DocumentHeader(stubs=[])
        yield node, data, header
        return
    line = node.start_mark.line + 1
    context.errors.append(
        StubError(
            f"{name}:{line}",
            "",
            f"a document must be a list of stubs or a mapping with 'stubs', got {_kind(data)}",
        )
    )


def _items(
    node: yaml.Node, items: list[Any], header: DocumentHeader
) -> Iterator[tuple[yaml.Node, Any, DocumentHeader]]:
    nodes = node.value if isinstance(node, yaml.SequenceNode) else []
    for position, item in enumerate(items):
        yield (nodes[position] if position < len(nodes) else node), item, header


def _build_stub(
    node: yaml.Node,
    data: Any,
    header: DocumentHeader,
    name: str,
    base_dir: Path,
    default_id: str,
    context: _Context,
) -> Stub | None:
    line = node.start_mark.line + 1
    source = f"{name}:{line}" if context.origin == "file" else f"{API_SOURCE}"
    if not isinstance(data, dict):
        context.errors.append(
            StubError(f"{name}:{line}", "", f"a stub must be a mapping, got {_kind(data)}")
        )
        return None
    if context.origin == "api":  # read-only fields of a listing may be sent back unchanged
        data = {key: value for key, value in data.items() if key not in ("source", "hits")}
    try:
        spec = StubSpec.model_validate(data)
    except ValidationError as error:
        context.errors.extend(_located(error, node, name, prefix=()))
        return None
    sequence = spec.responses is not None
    names = UNMATCHED_CONTEXT_NAMES if spec.unmatched else CONTEXT_NAMES
    responses = []
    for position, answer in enumerate(spec.answers):
        where: tuple[str | int, ...] = ("responses", position) if sequence else ("response",)
        try:
            try:
                responses.append(_prepare(answer, base_dir, context.stub_dirs, names))
            except UnicodeEncodeError:
                raise StubError(
                    "", "", "holds an unpaired surrogate (such as \\ud800): not valid Unicode"
                ) from None
        except _TemplateAt as failure:
            loc = (*where, *failure.loc)
            line = _template_line(node, loc, failure.error.line)
            context.errors.append(
                StubError(f"{name}:{line}", _format_loc(loc), f"template: {failure.error.reason}")
            )
        except StubError as error:
            line = _line_of(node, (*where, error.field))
            context.errors.append(
                StubError(f"{name}:{line}", _format_loc((*where, error.field)), error.message)
            )
    if len(responses) != len(spec.answers):
        return None
    order = len(context.stubs)
    return Stub(
        id=spec.id or default_id,
        source=source,
        origin=context.origin,
        order=order,
        spec=spec,
        service=header.service,
        base_path=header.base_path,
        host=header.host,
        matcher=compile_request(spec.request, base_path=header.base_path, host=header.host),
        responses=tuple(responses),
    )


def _prepare(
    response: ResponseSpec,
    base_dir: Path,
    stub_dirs: tuple[Path, ...],
    names: frozenset[str] = CONTEXT_NAMES,
) -> PreparedResponse:
    headers = dict(response.headers)
    has_type = any(name.lower() == "content-type" for name in headers)
    stream: tuple[bytes, ...] | None = None
    interval = 0
    if response.sse is not None:
        body, content_type = b"", "text/event-stream; charset=utf-8"
        stream = tuple(sse_frame(event) for event in response.sse.events)
        interval = response.sse.interval_ms
        if not any(name.lower() == "cache-control" for name in headers):
            headers["Cache-Control"] = "no-cache"
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
        headers["Content-Type"] = content_type
    delay = response.delay_ms
    templates = _compile_templates(response, names) if response.template else None
    return PreparedResponse(
        response.status,
        tuple(headers.items()),
        body,
        delay_ms=None if delay is None else (delay.min, delay.max),
        fault=response.fault,
        stream=stream,
        interval_ms=interval,
        templates=templates,
    )


class _TemplateAt(Exception):
    """A template compile error with the path of its value inside the response."""

    def __init__(self, loc: tuple[str | int, ...], error: TemplateCompileError) -> None:
        super().__init__(str(error))
        self.loc, self.error = loc, error


def _compile_at(value: Any, loc: tuple[str | int, ...], names: frozenset[str]) -> Renderable:
    try:
        return compile_template_value(value, _format_loc(("response", *loc)), names)
    except TemplateCompileError as error:
        raise _TemplateAt((*loc, *error.loc), error) from None


def _compile_templates(response: ResponseSpec, names: frozenset[str]) -> ResponseTemplates:
    headers = tuple(
        (name, _compile_at(value, ("headers", name), names))
        for name, value in response.headers.items()
    )
    body: Renderable | None = None
    if response.has_json:
        body = _compile_at(response.json_, ("json",), names)
    elif response.body is not None:
        body = _compile_at(response.body, ("body",), names)
    return ResponseTemplates(headers, body, body_is_json=response.has_json)


def _template_line(node: yaml.Node, loc: tuple[str | int, ...], template_line: int) -> int:
    """The file line of a template's own line; block scalars (| >) start below their key."""
    line, walked = _locate(node, loc)
    target = node
    for part in walked:
        child = _child(target, part)
        if child is None:
            break
        target = child
    block = isinstance(target, yaml.ScalarNode) and target.style in ("|", ">")
    return line + template_line - 1 + (1 if block else 0)


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


def _read_body_file(
    relative: str, base_dir: Path, stub_dirs: tuple[Path, ...]
) -> tuple[bytes, str]:
    field_name = "body_file"
    target = (base_dir / relative).resolve()  # follows symlinks: a link out is caught below
    if not any(target.is_relative_to(directory) for directory in stub_dirs):
        raise StubError("", field_name, f"{relative!r} resolves outside the stub directories")
    try:
        body = target.read_bytes()
    except FileNotFoundError:
        raise StubError("", field_name, f"{relative!r} does not exist ({target})") from None
    except OSError as error:
        raise StubError("", field_name, f"{relative!r} cannot be read: {error.strerror}") from None
    guessed, _ = mimetypes.guess_type(target.name)
    content_type = guessed or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/json", "application/xml"):
        content_type += "; charset=utf-8"
    return body, content_type


def _check_unique_ids(stubs: Iterable[Stub], errors: list[StubError]) -> None:
    seen: dict[str, Stub] = {}
    for stub in stubs:
        first = seen.get(stub.id)
        if first is None:
            seen[stub.id] = stub
            continue
        errors.append(
            StubError(
                stub.source, "id", f"duplicate id {stub.id!r}: also defined at {first.source}"
            )
        )


# --- mapping pydantic errors to lines -------------------------------------------------------


def _located(
    error: ValidationError, node: yaml.Node, name: str, prefix: tuple[str | int, ...]
) -> list[StubError]:
    located = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        line, field_path = _locate(node, loc)
        located.append(
            StubError(f"{name}:{line}", _format_loc(prefix + field_path), _message(detail))
        )
    return located


def _child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(key):
                return value_node  # type: ignore[no-any-return]  # yaml's nodes are untyped
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]  # type: ignore[no-any-return]
    return None


def _locate(node: yaml.Node, loc: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
    """The line of the deepest node on `loc`, and the part of `loc` the user actually wrote.

    A scalar shorthand (`currency: usd`) ends the walk: its normalised form (`equals`) is not
    what the user typed, so the field stops at `currency`. A missing key keeps its full path.
    """
    line = node.start_mark.line + 1
    walked: list[str | int] = []
    for part in loc:
        if isinstance(node, yaml.ScalarNode):
            return line, tuple(walked)
        if isinstance(node, yaml.MappingNode):
            key_line = None
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    key_line = key_node.start_mark.line + 1
                    node = value_node
                    break
            walked.append(part)
            if key_line is None:
                return line, tuple(walked) + loc[len(walked) :]
            line = key_line
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line, tuple(walked) + loc[len(walked) :]
            node = node.value[part]
            line = node.start_mark.line + 1
            walked.append(part)
            continue
        return line, tuple(walked)
    return line, tuple(walked)


def _line_of(node: yaml.Node, loc: tuple[str | int, ...]) -> int:
    return _locate(node, loc)[0]


def _format_loc(loc: Sequence[str | int]) -> str:
    """("request", "query", "a", 0) -> "request.query.a[0]"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _message(detail: Any) -> str:
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        unknown = str(detail["loc"][-1])
        if unknown in _KNOWN_FIELDS:  # right name, wrong place (template: under request)
            return f"unknown field {unknown!r} here: it belongs elsewhere in a stub"
        import difflib  # here: only a misspelt field needs it, not start-up

        close = difflib.get_close_matches(unknown, _KNOWN_FIELDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {unknown!r}{hint}"
    if kind == "missing":
        return "field required"
    message = str(detail["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and _is_scalar(value):
        message += f" (got {value!r})"
    elif kind != "value_error" and value is not None:
        message += f" (got {_kind(value)})"
    return message[:1].lower() + message[1:]


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def model_errors(error: ValidationError) -> list[dict[str, str]]:
    """An admin body's validation errors as `details` entries with field paths."""
    located = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        if loc[-1:] == ("template",):  # the user wrote a plain path string
            loc = loc[:-1]
        located.append({"field": _format_loc(loc), "message": _message(detail)})
    return located
