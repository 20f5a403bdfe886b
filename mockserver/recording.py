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
request path and never recorded. Recordings are namespace state (`NamespaceState.recordings`):
replicas on one Redis share them, and write one document (see `Recorder._write`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mockserver.answers import Proxied
from mockserver.errors import AdminInputError, MockServerError, NotFoundError
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
from mockserver.spec import DocumentHeader, ProxySpec, RequestSpec, StubSpec
from mockserver.state import NamespaceState, Recordings, ServiceRecording
from mockserver.store import ScopedStore
from mockserver.stub import Stub

log = logging.getLogger(__name__)
_Model = TypeVar("_Model", bound=BaseModel)

_COMMENT: Final = (
    "Recorded by mockserver from {url}: edit freely, it is an ordinary stub file.\n"
    "Secrets were replaced by REDACTED; credential headers are matched as present."
)


SETTLE_S: Final = 10.0
"""How long a listing of recordings waits for exchanges still being forwarded."""


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


class Recorder:
    """The recorded services of a server; every namespace's recordings are in its state
    (`NamespaceState.recordings`), so any replica replays what another recorded."""

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
        self._record_dir: Path | None = None
        self._writing: dict[str, asyncio.Lock] = {}
        self._forwarding: dict[str | None, set[asyncio.Task[object]]] = {}
        """Per namespace, the requests of this process being forwarded to be recorded."""

    @property
    def targets(self) -> Sequence[RecordTarget]:
        return self._targets

    def write_to(self, directory: Path) -> None:
        """Write the default namespace's recording of a service under `directory` each time an
        exchange of it is kept (replicas sharing the directory included: see `_write`)."""
        self._record_dir = directory

    def _earlier_of(self, service: str, recording: ServiceRecording | None) -> Recorded:
        if recording is None or recording.earlier is None:
            return self._earlier.get(service, ())
        return recording.earlier

    def _mode(self, target: RecordTarget, recordings: Recordings) -> str:
        mode = recordings.mode or target.mode
        if mode == "once":  # decided by what was recorded before
            recording = recordings.services.get(target.service)
            return "none" if self._earlier_of(target.service, recording) else "all"
        return mode

    def covers(self, path: str) -> bool:
        """Whether `path` is under a recorded service's base path."""
        return any(target.covers(path) for target in self._targets)

    async def route(
        self, request: IncomingRequest, state: NamespaceState
    ) -> tuple[RecordTarget, bool] | None:
        """The recorded service a request belongs to, if it may be forwarded, and whether it is
        forwarded whatever the stubs say (`all`) rather than only when none matched. Only a
        request under a recorded base path reads the namespace's recordings."""
        path = request.path
        for target in self._targets:
            if target.covers(path):
                mode = self._mode(target, await state.recordings())
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
        task = asyncio.current_task()
        if task is not None:  # the request's handler: done once the exchange is kept (or not)
            forwarding = self._forwarding.setdefault(scope.namespace, set())
            forwarding.add(task)
            task.add_done_callback(forwarding.discard)
        return Plan(proxied, Outcome(False, None, service=target.service))

    async def settled(self, namespace: str | None) -> None:
        """Wait (up to `SETTLE_S`) for the exchanges this process is still forwarding in the
        namespace to be kept: a client that stops reading a stream early (an SDK at `data:
        [DONE]`) has its answer before the upstream's has ended, and a test's teardown that
        reads the recordings then must find that exchange."""
        forwarding = self._forwarding.get(namespace)
        current = asyncio.current_task()
        pending = [task for task in forwarding or () if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=SETTLE_S)

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
        key = _request_key(recorded.spec)
        kept: list[RecordedStub] = []

        def keep(recordings: Recordings) -> Recordings:
            # run again when another replica changed the recordings first: decides afresh
            recording = recordings.services.get(target.service)
            if recording is None:  # recorded anew (`all`) leaves what was recorded before out
                anew = self._mode(target, recordings) == "all"
                recording = ServiceRecording(target.service, target.base_path, () if anew else None)
            stubs = list(recording.stubs)
            found = next(
                (
                    index
                    for index, stub in enumerate(stubs)
                    if _request_key(stub.spec.request) == key
                ),
                None,
            )
            if found is None:
                taken = {
                    stub.spec.id
                    for stub in (*self._earlier_of(target.service, recording), *stubs)
                    if stub.spec.id is not None
                }
                new_id = stub_id(target.service, request.method, path, taken)
                response, files = recorded_response(answer, request.method, new_id, self._redaction)
                stub = RecordedStub(
                    StubSpec(id=new_id, request=recorded.spec, response=response), files
                )
                stubs.append(stub)
            else:
                old = stubs[found]
                assert old.spec.id is not None
                response, files = recorded_response(
                    answer, request.method, old.spec.id, self._redaction
                )
                stub = stubs[found] = with_answer(old, response, files)
            kept[:] = [stub]
            services = {
                **recordings.services,
                target.service: replace(recording, stubs=tuple(stubs)),
            }
            return replace(recordings, services=services)

        recordings = await scope.state.update_recordings(keep)
        if self._mode(target, recordings) == "new_episodes":
            await self._install(scope, target, kept[0])
        if scope.namespace is None and self._record_dir is not None:
            await self._write(scope.state, target.service)

    async def _install(self, scope: ScopedStore, target: RecordTarget, stub: RecordedStub) -> None:
        """Make a recorded stub answer in its namespace from now on (an API stub there)."""
        built = replay_stub(stub, target)
        service = target.service
        try:
            if await _installed(scope.state, service, built.id):
                try:
                    await scope.replace(built.id, built)
                except NotFoundError:  # removed since (a reset, an admin call): again
                    await scope.add([built])
                return
            try:
                await scope.add([built])
            except AdminInputError:
                if not await _installed(scope.state, service, built.id):
                    raise  # a hand-written stub's id
                await scope.replace(built.id, built)  # another replica installed it meanwhile
                return
            await scope.state.update_recordings(
                lambda recordings: _with_installed(recordings, service, built.id)
            )
        except MockServerError as error:  # an id a hand-written stub already uses, say
            log.warning("recorded stub %r is not replayed: %s", built.id, error.message)

    async def _write(self, state: NamespaceState, service: str) -> None:
        """Write the service's recording under the recordings directory as it is now.

        Replicas may share the directory: each writes under an exclusive lock on the service's
        lock file and reads the recording inside it, so whoever writes last writes the newest
        (a slower replica never puts back an older document)."""
        directory = self._record_dir
        assert directory is not None
        lock = self._writing.setdefault(service, asyncio.Lock())
        async with lock:
            held = await asyncio.to_thread(_locked, directory / f".{service}.lock")
            try:
                recordings = await state.recordings()
                document = self._document_of(service, recordings)
                if document is not None:
                    await asyncio.to_thread(save, directory, document)
            finally:
                os.close(held)  # and the lock with it

    def _target(self, service: str, recording: ServiceRecording | None) -> RecordTarget | None:
        for target in self._targets:
            if target.service == service:
                return target
        if recording is None:
            return None
        return RecordTarget(service, "", "none", recording.base_path)  # loaded, replay only

    def _document_of(self, service: str, recordings: Recordings) -> RecordedDocument | None:
        recording = recordings.services.get(service)
        target = self._target(service, recording)
        if target is None:
            return None
        if recording is None:
            if self._mode(target, recordings) == "all" or not self._earlier[service]:
                return None
            recording = ServiceRecording(service, target.base_path)
        return _document(target, self._earlier_of(service, recording), recording.stubs)

    async def documents(self, state: NamespaceState) -> list[RecordedDocument]:
        """The namespace's recording of each service that has one (earlier stubs included),
        once the exchanges still being forwarded in it have been kept (`settled`)."""
        await self.settled(state.name)
        recordings = await state.recordings()
        services = sorted({target.service for target in self._targets} | set(recordings.services))
        documents = [self._document_of(service, recordings) for service in services]
        return [document for document in documents if document is not None]

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
        services = {
            service: ServiceRecording(service, base_path, tuple(stubs))
            for service, base_path, stubs in loaded
        }
        recordings = await scope.state.update_recordings(lambda _: Recordings(mode, services))
        for service, base_path, stubs in loaded:
            target = targets.get(service) or RecordTarget(service, "", "none", base_path)
            if self._mode(target, recordings) != "all":
                for stub in stubs:
                    await self._install(scope, target, stub)
        return sum(len(stubs) for _, _, stubs in loaded)

    async def clear(self, scope: ScopedStore) -> int:
        """Forget what the namespace recorded (its replayed stubs go too); how many stubs."""
        cleared: list[Recordings] = []

        def forget(recordings: Recordings) -> Recordings:
            cleared[:] = [recordings]
            return Recordings()

        await scope.state.update_recordings(forget)
        for recording in cleared[0].services.values():
            for installed in recording.installed:
                # removed through the admin API already (or by a reset): nothing to do
                with contextlib.suppress(MockServerError):
                    await scope.remove(installed)
        return sum(len(recording.stubs) for recording in cleared[0].services.values())


Recorded = tuple[RecordedStub, ...]


def _request_key(request: RequestSpec) -> str:
    """What makes two recorded requests the same one."""
    return json.dumps(request.model_dump(mode="json", exclude_unset=True), sort_keys=True)


def _locked(path: Path) -> int:
    """The descriptor of `path` (made if missing) once this process holds its exclusive lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    held = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(held, fcntl.LOCK_EX)
    return held


async def _installed(state: NamespaceState, service: str, stub_id: str) -> bool:
    recording = (await state.recordings()).services.get(service)
    return recording is not None and stub_id in recording.installed


def _with_installed(recordings: Recordings, service: str, stub_id: str) -> Recordings:
    recording = recordings.services.get(service)
    if recording is None:  # cleared meanwhile: the stub is an orphan the clear did not see
        return recordings
    installed = replace(recording, installed=recording.installed | {stub_id})
    return replace(recordings, services={**recordings.services, service: installed})


def _document(target: RecordTarget, earlier: Recorded, stubs: Recorded) -> RecordedDocument:
    specs: list[StubSpec] = []
    files: dict[str, bytes] = {}
    for stub in (*earlier, *stubs):
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
