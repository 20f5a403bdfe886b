"""Stub files -> YAML documents -> spec models -> Stub records, or every StubError.

The only module that reads stub files. YAML is composed by hand (not `safe_load`) to keep each
node's line, so a pydantic error's `loc` maps back to `path:line` (`locations`); it is read with
YAML 1.2 core-schema types, text values kept as written (`stub_yaml`). Every file is read and
every stub validated before failing, so one run reports all errors. A valid `StubSpec`
becomes a `Stub` in one place, `build_stubs`' builder: its responses prepared (`prepare`), its
request matcher compiled, its id defaulted. Code that makes specs itself (an admin call's JSON,
later record mode and importers) enters there, without YAML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from mockserver import stub_yaml
from mockserver.callbacks import (
    CALLBACK_NAMES,
    ON_DEMAND_NAMES,
    CallbackError,
    CompiledCallback,
    compile_callback,
)
from mockserver.errors import StubError, StubLoadError
from mockserver.locations import Loc, Located, format_loc, kind_of, message, written_loc
from mockserver.matching import compile_request
from mockserver.prepare import ResponseError, ignored_headers, prepare_response
from mockserver.spec import DocumentHeader, StubSpec
from mockserver.stub import API_SOURCE, Origin, Stub
from mockserver.templating import CONTEXT_NAMES, UNMATCHED_CONTEXT_NAMES

STUB_SUFFIXES: Final = (".yaml", ".yml", ".json")
BODY_FILES_DIR: Final = "__files"
_HEADER_FIELDS: Final = ("service", "base_path", "host", "cors", "record")
_NO_HEADER: Final = DocumentHeader(stubs=[])
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadedStubs:
    """What one load produced: the stubs in file order and how many each file held."""

    stubs: tuple[Stub, ...]
    files: tuple[tuple[str, int], ...] = ()
    events: Mapping[str, CompiledCallback] = field(default_factory=dict)
    """The documents' `events:`, by `SERVICE/NAME`, sent with POST /__admin/callbacks."""
    recorded: tuple[DocumentHeader, ...] = ()
    """The documents that record their service (`record:`), in file order."""


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
    builder = _Builder(tuple(directory.resolve() for directory in stub_dirs), "file")
    counts: list[tuple[str, int]] = []
    for path in find_stub_files(stub_dirs):
        before = len(builder.stubs)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            builder.errors.append(StubError(f"{path}:1", "", f"not UTF-8 text: {error.reason}"))
            continue
        except OSError as error:
            builder.errors.append(StubError(f"{path}:1", "", f"cannot read: {error.strerror}"))
            continue
        _load_text(text, str(path), path.parent, path.stem, builder)
        counts.append((str(path), len(builder.stubs) - before))
    return LoadedStubs(
        tuple(builder.finish()), tuple(counts), builder.events, tuple(builder.recorded)
    )


def parse_stub_text(text: str, *, stub_dirs: Sequence[Path], label: str = API_SOURCE) -> list[Stub]:
    """Stubs from an admin call's body (JSON or YAML: one stub, a list, or documents)."""
    builder = _Builder(tuple(directory.resolve() for directory in stub_dirs), "api")
    _load_text(text, label, _api_base_dir(stub_dirs), label, builder)
    return builder.finish()


def parse_stub_data(data: Any, *, stub_dirs: Sequence[Path], label: str = API_SOURCE) -> list[Stub]:
    """Stubs from an admin call's parsed JSON: validated as models, then `build_stubs`.

    Errors have `label` ("api") as their source, since the data has no lines.
    """
    errors: list[StubError] = []
    specs: list[StubSpec] = []
    found = list(_stubs_of(data, None, label, errors))
    header = found[0][2] if found else _NO_HEADER  # one JSON value is one document
    if header.events:
        reason = "events are declared in stub files; send a callback with POST /callbacks"
        errors.append(StubError(label, "events", reason))
    for _, stub_data, _ in found:
        spec = _validated(stub_data, "api", None, label, errors)
        if spec is not None:
            specs.append(spec)
    try:
        built = build_stubs(
            specs, "api", _api_base_dir(stub_dirs), stub_dirs=stub_dirs, header=header, name=label
        )
    except StubLoadError as error:
        raise StubLoadError([*errors, *error.errors]) from None
    if errors:
        raise StubLoadError(errors)
    return built


def build_stubs(
    specs: Iterable[StubSpec],
    origin: Origin,
    base_dir: Path,
    *,
    stub_dirs: Sequence[Path] = (),
    header: DocumentHeader | None = None,
    name: str = API_SOURCE,
) -> list[Stub]:
    """Stubs from specs that are valid already: the model-first way in, without YAML.

    Responses are prepared as at load: a `body_file` is read relative to `base_dir` and must
    resolve inside `stub_dirs` (by default `base_dir`). `header` gives the document's service,
    base path and host. Default ids are `<name>:<index>`; errors have `name` as their source
    and the field path inside the stub.

    Raises:
        StubLoadError: every response that cannot be prepared, and duplicate ids.
    """
    directories = stub_dirs or (base_dir,)
    builder = _Builder(tuple(directory.resolve() for directory in directories), origin)
    for index, spec in enumerate(specs):
        builder.add(spec, header or _NO_HEADER, base_dir, name, f"{name}:{index}", None)
    return builder.finish()


def _api_base_dir(stub_dirs: Sequence[Path]) -> Path:
    # an admin stub's body_file is relative to the first stub directory
    return stub_dirs[0].resolve() if stub_dirs else Path.cwd()


@dataclass(slots=True)
class _Builder:
    """Turns valid specs into Stubs in order, collecting every error instead of stopping."""

    stub_dirs: tuple[Path, ...]
    origin: Origin
    errors: list[StubError] = field(default_factory=list)
    stubs: list[Stub] = field(default_factory=list)
    events: dict[str, CompiledCallback] = field(default_factory=dict)
    recorded: list[DocumentHeader] = field(default_factory=list)

    def add(
        self,
        spec: StubSpec,
        header: DocumentHeader,
        base_dir: Path,
        name: str,
        default_id: str,
        located: Located | None,
    ) -> None:
        """Prepare the stub's answers and compile its matcher; `located` places errors."""
        sequence = spec.responses is not None
        names = UNMATCHED_CONTEXT_NAMES if spec.unmatched else CONTEXT_NAMES
        responses = []
        stub_id = spec.id or default_id
        for position, answer in enumerate(spec.answers):
            where: Loc = ("responses", position) if sequence else ("response",)
            for ignored, why in ignored_headers(answer):
                # a header pasted from a real response: the load goes on, the user is told
                warning = _placed(located, name, (*where, "headers", ignored), why)
                log.warning("%s (stub %r)", warning, stub_id)
            try:
                responses.append(prepare_response(answer, base_dir, self.stub_dirs, names))
            except ResponseError as failure:
                loc = (*where, *failure.loc)
                self.errors.append(_placed(located, name, loc, failure.message, failure.line))
        callbacks = []
        for position, callback in enumerate(spec.callbacks or ()):
            try:
                callbacks.append(compile_callback(callback, CALLBACK_NAMES))
            except CallbackError as failure:
                loc = ("callbacks", position, *failure.loc)
                self.errors.append(_placed(located, name, loc, failure.message, failure.line))
        if len(responses) != len(spec.answers) or len(callbacks) != len(spec.callbacks or ()):
            return
        if located is not None and self.origin == "file":
            source = located.source
        else:
            source = API_SOURCE if self.origin == "api" else name
        self.stubs.append(
            Stub(
                id=stub_id,
                source=source,
                origin=self.origin,
                order=len(self.stubs),
                spec=spec,
                service=header.service,
                base_path=header.base_path,
                host=header.host,
                cors=header.cors,
                matcher=compile_request(spec.request, base_path=header.base_path, host=header.host),
                responses=tuple(responses),
                callbacks=tuple(callbacks),
            )
        )

    def add_header(self, header: DocumentHeader, located: Located | None, name: str) -> None:
        """A document's own fields: its events, and its service when it records (`record:`)."""
        if header.record is not None:
            self.recorded.append(header)
        self.add_events(header, located, name)

    def add_events(self, header: DocumentHeader, located: Located | None, name: str) -> None:
        """A document's `events:`, compiled; each `SERVICE/NAME` declared once."""
        for event, spec in (header.events or {}).items():
            key = f"{header.service}/{event}"
            loc: Loc = ("events", event)
            if self.origin == "api":
                reason = "events are declared in stub files; send a callback with POST /callbacks"
                self.errors.append(_placed(located, name, ("events",), reason))
                return
            if key in self.events:
                self.errors.append(_placed(located, name, loc, f"event {key!r} is declared twice"))
                continue
            try:
                self.events[key] = compile_callback(spec, ON_DEMAND_NAMES, event=key)
            except CallbackError as failure:
                loc = (*loc, *failure.loc)
                self.errors.append(_placed(located, name, loc, failure.message, failure.line))

    def finish(self) -> list[Stub]:
        """The stubs built; raises StubLoadError with every error, duplicate ids included."""
        seen: dict[str, Stub] = {}
        for stub in self.stubs:
            first = seen.setdefault(stub.id, stub)
            if first is not stub:
                self.errors.append(
                    StubError(
                        stub.source,
                        "id",
                        f"duplicate id {stub.id!r}: also defined at {first.source}",
                    )
                )
        if self.errors:
            raise StubLoadError(self.errors)
        return self.stubs


def _placed(
    located: Located | None, name: str, loc: Loc, text: str, line_in_value: int | None = None
) -> StubError:
    """An error at `loc` inside a stub: at its `path:line` when the stub has lines."""
    if located is None:
        return StubError(name, format_loc(loc), text)
    if line_in_value is None:
        line = located.line_of(loc)
    else:
        line = located.line_in_value(loc, line_in_value)
    return StubError(f"{located.name}:{line}", format_loc(loc), text)


def _load_text(text: str, name: str, base_dir: Path, stem: str, builder: _Builder) -> None:
    index = 0
    try:
        for located, data in _documents(text, name):
            stubs = _stubs_of(data, located, name, builder.errors, builder.add_header)
            for loc, stub_data, header in stubs:
                stub_at = located.at(loc) or located
                spec = _validated(stub_data, builder.origin, stub_at, name, builder.errors)
                if spec is not None:
                    builder.add(spec, header, base_dir, name, f"{stem}:{index}", stub_at)
                index += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        column = f" (column {mark.column + 1})" if mark else ""
        problem = error.problem or error.context or "malformed YAML"
        builder.errors.append(StubError(f"{name}:{line}", "", f"malformed YAML: {problem}{column}"))
    except yaml.YAMLError as error:
        builder.errors.append(StubError(f"{name}:1", "", f"malformed YAML: {error}"))


def _documents(text: str, name: str) -> Iterator[tuple[Located, Any]]:
    """Each YAML document as (node tree with marks, constructed Python data), one at a time,
    so the documents before a malformed one still report their own errors."""
    for node, data in stub_yaml.compose_documents(text):
        yield Located(name, node), data


def _stubs_of(
    data: Any,
    located: Located | None,
    name: str,
    errors: list[StubError],
    on_header: Callable[[DocumentHeader, Located | None, str], None] | None = None,
) -> Iterator[tuple[Loc, Any, DocumentHeader]]:
    """A document's stubs as (their loc in the document, data), with the document's own fields.

    A list of stubs, a mapping with `stubs`, or one stub on its own (admin calls, short files),
    which may carry the document fields beside its own.
    """
    if data is None:
        return
    if isinstance(data, list):
        for position, item in enumerate(data):
            yield (position,), item, _NO_HEADER
        return
    if isinstance(data, dict) and ("stubs" in data or "record" in data):
        # a recorded service's document may hold no stubs of its own yet
        header = _header({"stubs": [], **data}, located, name, errors)
        if header is not None and header.record is not None and header.base_path is None:
            header = header.model_copy(update={"base_path": f"/{header.service}"})  # /SERVICE
        if header is not None and on_header is not None:
            on_header(header, located, name)
        if header is not None:
            for position, item in enumerate(header.stubs):
                yield ("stubs", position), item, header
        return
    if isinstance(data, dict):
        own = {key: value for key, value in data.items() if key not in _HEADER_FIELDS}
        fields = {key: data[key] for key in _HEADER_FIELDS if key in data}
        header = _header({**fields, "stubs": []}, located, name, errors) if fields else _NO_HEADER
        if header is not None:
            yield (), own, header
        return
    where = located.source if located is not None else name
    errors.append(
        StubError(
            where,
            "",
            f"a document must be a list of stubs or a mapping with 'stubs', got {kind_of(data)}",
        )
    )


def _header(
    data: dict[str, Any], located: Located | None, name: str, errors: list[StubError]
) -> DocumentHeader | None:
    try:
        return DocumentHeader.model_validate(data)
    except ValidationError as error:
        errors.extend(_validation_errors(error, data, located, name))
        return None


def _validated(
    data: Any, origin: Origin, located: Located | None, name: str, errors: list[StubError]
) -> StubSpec | None:
    """The stub's spec, or None with its errors recorded."""
    if not isinstance(data, dict):
        where = located.source if located is not None else name
        errors.append(StubError(where, "", f"a stub must be a mapping, got {kind_of(data)}"))
        return None
    if origin == "api":  # read-only fields of a listing may be sent back unchanged
        data = {key: value for key, value in data.items() if key not in ("source", "hits")}
    try:
        return StubSpec.model_validate(data)
    except ValidationError as error:
        errors.extend(_validation_errors(error, data, located, name))
        return None


def _validation_errors(
    error: ValidationError, data: Any, located: Located | None, name: str
) -> list[StubError]:
    if located is not None:
        return located.errors(error)
    return [
        StubError(name, format_loc(written_loc(data, tuple(detail["loc"]))), message(detail))
        for detail in error.errors(include_url=False)
    ]
