"""Recording: services recorded per namespace, and replayed (PRODUCT.md §11).

A recorded service (`--record SERVICE=URL`, or `record:` in a stub document) is served under its
base path. Depending on its mode (vcrpy's), what no stub matches is forwarded to its target
(through the `Proxied` answer) and, once the upstream's answer has ended, kept: `none` replays
only; `once` records every call while the service has no recording yet, else replays only;
`new_episodes` replays what matches and records the rest (the new stubs answer from then on, in
the namespace that recorded them); `all` forwards everything and records it anew.

The recordings of a namespace are stub documents, one per service: the stubs recorded before
(the file `<record dir>/SERVICE.yaml`, loaded as file stubs) and, after them, those recorded
since; `all` leaves the earlier ones out. Listeners (the server's writer to `--record-dir`) are
told of a document each time an exchange is kept. An upstream failure is journaled by the
request path and never recorded. Recordings live in this process: they need the in-memory state.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mockserver.answers import Proxied
from mockserver.errors import AdminInputError, MockServerError
from mockserver.exchange import Outcome
from mockserver.incoming import IncomingRequest
from mockserver.loader import build_stubs
from mockserver.locations import model_errors
from mockserver.plan import Plan
from mockserver.proxy import forward_request
from mockserver.recorded import (
    RecordedStub,
    UpstreamAnswer,
    document_text,
    recorded_request,
    recorded_response,
    stub_id,
    with_answer,
)
from mockserver.redaction import Redaction
from mockserver.spec import DocumentHeader, ProxySpec, StubSpec
from mockserver.store import ScopedStore
from mockserver.stub import Stub

log = logging.getLogger(__name__)
_Model = TypeVar("_Model", bound=BaseModel)

_COMMENT: Final = (
    "Recorded by mockserver from {url}: edit freely, it is an ordinary stub file.\n"
    "Secrets were replaced by REDACTED; credential headers are matched as present."
)


@dataclass(frozen=True, slots=True)
class RecordTarget:
    """A recorded service: requests under `base_path` may go to `url`."""

    service: str
    url: str
    mode: str
    base_path: str
    timeout_ms: int = 30_000

    def covers(self, path: str) -> bool:
        base = self.base_path
        return path == base or path.startswith(base + "/") or base == "/"


@dataclass(frozen=True, slots=True)
class RecordedDocument:
    """A service's recording as a stub file: `file` is its name in the recordings directory,
    `files` the body files it refers to, by their path relative to it."""

    service: str
    file: str
    yaml: str
    files: Mapping[str, bytes]


@dataclass(slots=True)
class _Recording:
    """One service's recording in one namespace: what was recorded before (the file's stubs,
    or a cassette loaded through the admin API), then what was recorded since."""

    target: RecordTarget
    earlier: tuple[RecordedStub, ...]
    stubs: list[RecordedStub] = field(default_factory=list)
    by_request: dict[str, RecordedStub] = field(default_factory=dict)
    installed: set[str] = field(default_factory=set)

    def taken_ids(self) -> set[str]:
        return {stub.spec.id for stub in (*self.earlier, *self.stubs) if stub.spec.id is not None}


Listener = Callable[[str | None, RecordedDocument], None]
"""Told of a namespace's document of a service each time an exchange of it is kept."""


class Recorder:
    """The recorded services of a server and every namespace's recordings."""

    def __init__(
        self,
        targets: Sequence[RecordTarget],
        file_stubs: Sequence[Stub],
        redaction: Redaction,
        record_dir: Path | None = None,
    ) -> None:
        # the longest base path first: /openai/v2 is more precise than /openai
        self._targets = sorted(targets, key=lambda target: -len(target.base_path))
        self._redaction = redaction
        self._earlier = {
            target.service: _earlier_stubs(file_stubs, record_dir, target.service)
            for target in targets
        }
        self._recordings: dict[tuple[str | None, str], _Recording] = {}
        self._modes: dict[str | None, str] = {}
        """A namespace's own mode (a test's, set with its cassette), over the targets'."""
        self._listeners: list[Listener] = []

    @property
    def targets(self) -> Sequence[RecordTarget]:
        return self._targets

    def on_document(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _mode(self, target: RecordTarget, namespace: str | None) -> str:
        mode = self._modes.get(namespace, target.mode)
        if mode == "once":  # decided by what was recorded before
            loaded = self._recordings.get((namespace, target.service))
            earlier = loaded.earlier if loaded is not None else self._earlier[target.service]
            return "none" if earlier else "all"
        return mode

    def route(self, request: IncomingRequest) -> tuple[RecordTarget, bool] | None:
        """The recorded service a request belongs to, if it may be forwarded, and whether it is
        forwarded whatever the stubs say (`all`) rather than only when none matched."""
        path = request.path
        for target in self._targets:
            if target.covers(path):
                mode = self._mode(target, request.namespace)
                return None if mode == "none" else (target, mode == "all")
        return None

    def forward(self, target: RecordTarget, request: IncomingRequest, scope: ScopedStore) -> Plan:
        """The plan that forwards `request` to the target and keeps the exchange once the
        upstream's answer has ended. Journaled as unmatched (no stub matched it)."""
        spec = ProxySpec(to=target.url, timeout_ms=target.timeout_ms)
        # identity: recorded bodies stay readable (and a client that asked for gzip copes)
        forward = forward_request(request, spec, target.base_path, identity=True)
        proxied = Proxied(forward)
        proxied.on_ended = functools.partial(self._keep, target, request, scope)
        return Plan(proxied, Outcome(False, None, service=target.service))

    async def _keep(
        self,
        target: RecordTarget,
        request: IncomingRequest,
        scope: ScopedStore,
        answer: UpstreamAnswer,
    ) -> None:
        try:
            await self._kept(target, request, scope, answer)
        except Exception:  # the answer went out whole: a recording that fails must not cut it
            log.exception("%s %s: the exchange could not be recorded", request.method, request.path)

    async def _kept(
        self,
        target: RecordTarget,
        request: IncomingRequest,
        scope: ScopedStore,
        answer: UpstreamAnswer,
    ) -> None:
        recording = self._recording(scope.namespace, target)
        path = request.path
        if target.base_path != "/" and path.startswith(target.base_path):
            path = path[len(target.base_path) :] or "/"
        recorded = recorded_request(
            request.method,
            path,
            request.query,
            request.headers,
            request.body,
            request.json,
            self._redaction,
        )
        key = json.dumps(recorded.spec.model_dump(mode="json", exclude_unset=True), sort_keys=True)
        stub = recording.by_request.get(key)
        if stub is None:
            new_id = stub_id(target.service, request.method, path, recording.taken_ids())
            response, files = recorded_response(answer, request.method, new_id, self._redaction)
            stub = RecordedStub(StubSpec(id=new_id, request=recorded.spec, response=response))
            stub.files.update(files)
            recording.stubs.append(stub)
            recording.by_request[key] = stub
        else:
            assert stub.spec.id is not None
            response, files = recorded_response(
                answer, request.method, stub.spec.id, self._redaction
            )
            with_answer(stub, response, files)
        if self._mode(target, scope.namespace) == "new_episodes":
            await self._install(scope, recording, stub)
        if self._listeners:
            document = self._document(recording)
            for listener in self._listeners:
                listener(scope.namespace, document)

    async def _install(self, scope: ScopedStore, recording: _Recording, stub: RecordedStub) -> None:
        """Make a recorded stub answer in its namespace from now on (an API stub there)."""
        built = replay_stub(stub, recording.target)
        try:
            if built.id in recording.installed:
                await scope.replace(built.id, built)
            else:
                await scope.add([built])
                recording.installed.add(built.id)
        except MockServerError as error:  # an id a hand-written stub already uses, say
            log.warning("recorded stub %r is not replayed: %s", built.id, error.message)

    def _recording(self, namespace: str | None, target: RecordTarget) -> _Recording:
        key = (namespace, target.service)
        recording = self._recordings.get(key)
        if recording is None:
            all_anew = self._mode(target, namespace) == "all"
            earlier = () if all_anew else self._earlier[target.service]
            recording = self._recordings[key] = _Recording(target, earlier)
        return recording

    def documents(self, namespace: str | None) -> list[RecordedDocument]:
        """The namespace's recording of each service that has one (earlier stubs included)."""
        documents = []
        for target in sorted(self._targets, key=lambda target: target.service):
            recording = self._recordings.get((namespace, target.service))
            if recording is None:
                if self._mode(target, namespace) == "all" or not self._earlier[target.service]:
                    continue
                recording = _Recording(target, self._earlier[target.service])
            documents.append(self._document(recording))
        for (owner, _), recording in sorted(self._recordings.items(), key=lambda item: item[0][1]):
            if owner == namespace and recording.target not in self._targets:
                documents.append(self._document(recording))  # loaded, replay only
        return documents

    async def load(
        self, scope: ScopedStore, mode: str, text: str, files: Mapping[str, bytes]
    ) -> int:
        """Set the namespace's mode and load a recording made before (a test's cassette: stub
        documents, one per service, with their body files) as what its services recorded
        earlier; replayed unless the mode is `all`. How many stubs were loaded.

        Raises:
            AdminInputError: a document that is not a recorded service's, a stub that is not
                valid, a body file not given, a mode that records a service with no target.
        """
        loaded = list(_documents(text, files))
        targets = {target.service: target for target in self._targets}
        for service, _, _ in loaded:
            if mode != "none" and service not in targets:
                raise AdminInputError(
                    f"mode {mode!r} records {service!r}, which this server has no target for "
                    f"(--record {service}=URL)",
                    [{"field": "mode", "message": "use none to replay only"}],
                )
        await self.clear(scope)
        self._modes[scope.namespace] = mode
        count = 0
        for service, base_path, stubs in loaded:
            target = targets.get(service) or RecordTarget(service, "", "none", base_path)
            recording = _Recording(target, tuple(stubs))
            self._recordings[(scope.namespace, service)] = recording
            count += len(stubs)
            if self._mode(target, scope.namespace) != "all":
                for stub in stubs:
                    await self._install(scope, recording, stub)
        return count

    async def clear(self, scope: ScopedStore) -> int:
        """Forget what the namespace recorded (its replayed stubs go too); how many stubs."""
        cleared = 0
        self._modes.pop(scope.namespace, None)
        for key in [key for key in self._recordings if key[0] == scope.namespace]:
            recording = self._recordings.pop(key)
            cleared += len(recording.stubs)
            for installed in recording.installed:
                # removed through the admin API already (or by a reset): nothing to do
                with contextlib.suppress(MockServerError):
                    await scope.remove(installed)
        return cleared

    def _document(self, recording: _Recording) -> RecordedDocument:
        target = recording.target
        specs: list[StubSpec] = []
        files: dict[str, bytes] = {}
        for stub in (*recording.earlier, *recording.stubs):
            specs.append(stub.spec)
            files.update(stub.files)
        text = document_text(
            target.service, target.base_path, specs, comment=_COMMENT.format(url=target.url)
        )
        return RecordedDocument(target.service, f"{target.service}.yaml", text, files)


def replay_stub(stub: RecordedStub, target: RecordTarget) -> Stub:
    """A recorded stub ready to answer: built as the loader builds a file's, with its body
    files' bytes taken from memory instead of the disk."""
    spec = stub.spec
    answers = spec.answers
    without_files = [
        answer.model_copy(update={"body_file": None}) if answer.body_file else answer
        for answer in answers
    ]
    update = (
        {"responses": without_files}
        if spec.responses is not None
        else {"response": without_files[0]}
    )
    header = DocumentHeader(service=target.service, base_path=target.base_path, stubs=[])
    (built,) = build_stubs(
        [spec.model_copy(update=update)], "api", Path.cwd(), header=header, name="recorded"
    )
    responses = tuple(
        prepared
        if answer.body_file is None
        else replace(prepared, body=stub.files[answer.body_file])
        for answer, prepared in zip(answers, built.responses, strict=True)
    )
    return replace(built, spec=spec, responses=responses)


def _earlier_stubs(
    file_stubs: Sequence[Stub], record_dir: Path | None, service: str
) -> tuple[RecordedStub, ...]:
    """The file stubs loaded from `<record_dir>/SERVICE.yaml`: what was recorded before, with
    the bodies of their body files."""
    if record_dir is None:
        return ()
    recorded = (record_dir / f"{service}.yaml").resolve()
    earlier = []
    for stub in file_stubs:
        if Path(stub.source.rpartition(":")[0]).resolve() != recorded:
            continue
        files = {
            answer.body_file: prepared.body
            for answer, prepared in zip(stub.spec.answers, stub.responses, strict=True)
            if answer.body_file is not None
        }
        earlier.append(RecordedStub(stub.spec, files))
    return tuple(earlier)


def _documents(text: str, files: Mapping[str, bytes]) -> list[tuple[str, str, list[RecordedStub]]]:
    """Recorded documents (YAML) as (service, base path, stubs with their body files)."""
    try:
        datas = [data for data in yaml.safe_load_all(text) if data is not None]
    except yaml.YAMLError as error:
        raise AdminInputError(
            f"yaml: not YAML: {error}", [{"field": "yaml", "message": "malformed YAML"}]
        ) from None
    documents = []
    for index, data in enumerate(datas):
        where = f"yaml.documents[{index}]"
        header = _validated(DocumentHeader, data, where)
        specs = [
            _validated(StubSpec, stub, f"{where}.stubs[{position}]")
            for position, stub in enumerate(header.stubs)
        ]
        if not header.service:
            raise AdminInputError(
                f"{where}: a recorded document names its service",
                [{"field": f"{where}.service", "message": "required"}],
            )
        stubs = []
        for spec in specs:
            needed = [answer.body_file for answer in spec.answers if answer.body_file is not None]
            missing = [name for name in needed if name not in files]
            if missing:
                raise AdminInputError(
                    f"{where}: body file {missing[0]!r} is not among the files given",
                    [{"field": "files", "message": f"missing {missing[0]!r}"}],
                )
            stubs.append(RecordedStub(spec, {name: files[name] for name in needed}))
        documents.append((header.service, header.base_path or f"/{header.service}", stubs))
    return documents


def _validated(model: type[_Model], data: object, where: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = [
            {**detail, "field": f"{where}.{detail['field']}".rstrip(".")}
            for detail in model_errors(error)
        ]
        raise AdminInputError(f"{details[0]['field']}: {details[0]['message']}", details) from None


def save(directory: Path, document: RecordedDocument) -> None:
    """Write a recording (its stub file and body files) under `directory`, each file replaced
    whole (written aside, then renamed), so a reader never sees half of one."""
    for relative, content in (
        (document.file, document.yaml.encode("utf-8")),
        *document.files.items(),
    ):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative != document.file and target.is_file() and target.read_bytes() == content:
            continue  # a body file is named by its content: already there
        aside = target.with_name(f".{target.name}.tmp")
        aside.write_bytes(content)
        os.replace(aside, target)


def targets_of(
    record: Sequence[tuple[str, str]], mode: str, documents: Sequence[DocumentHeader]
) -> list[RecordTarget]:
    """The recorded services of `--record` and of the documents that say `record:`."""
    targets = [RecordTarget(service, url, mode, f"/{service}") for service, url in record]
    for header in documents:
        assert header.record is not None  # as loaded
        assert header.service is not None
        base_path = header.base_path or f"/{header.service}"
        spec = header.record
        targets.append(
            RecordTarget(header.service, spec.target, spec.mode, base_path, spec.timeout_ms)
        )
    return targets
