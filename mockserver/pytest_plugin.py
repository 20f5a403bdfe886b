"""The pytest plugin (entry point `pytest11`): a `mockserver` fixture and its report section.

The fixture is a `MockServerClient`. It talks to the sidecar at `MOCKSERVER_URL` when that is set,
otherwise to a server started in this process (one per session, so one per xdist worker) with the
project's stub files. Either way it reaches the server over HTTP only, and each test works in a
namespace of its own, so both behave alike and parallel workers never see each other. The
server modules (and aiohttp) are imported only when a test first asks for the fixture: this module
loads in every pytest session of every project that installs mockserver.

With `MOCKSERVER_NAMESPACE` (or the ini option `mockserver_namespace`) every test uses that one
namespace instead, reset before each test and never removed: for an application under test that
runs on its own, with base URLs fixed at its start (`http://mock:8080/~name/payments`). Those tests
share its namespace, so they run one at a time: more than one xdist worker is refused.

Strictness (ini `mockserver_strict`, marker `mockserver_strict`): a test whose namespace received
a request no stub matched fails at teardown, listing them with their near misses.
`--mockserver-unused` prints, at the end of the run, the file stubs no test hit: each test's hits
are read before its namespace goes, and xdist workers send theirs to the controller.

Recording (`--mockserver-record MODE`, ini `mockserver_record`, default `none`; targets from ini
`mockserver_record_targets = stripe=https://api.stripe.com ...`): each test's cassette,
`<test dir>/cassettes/<module stem>/<test name>.yaml` (or the name given by
`@pytest.mark.mockserver_cassette("name")`), is loaded into its namespace with the mode
(`POST /recordings`), and what the namespace recorded is written back at teardown (`GET
/recordings`): in-process and against a sidecar alike.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import pytest

from mockserver.client import AdminError, JournalEntry, MockServerClient

URL_ENV: Final = "MOCKSERVER_URL"
NAMESPACE_ENV: Final = "MOCKSERVER_NAMESPACE"
NAMESPACE_INI: Final = "mockserver_namespace"
STUB_FILES_MARKER: Final = "mockserver_stub_files"
STRICT_MARKER: Final = "mockserver_strict"
STRICT_INI: Final = "mockserver_strict"
RECORD_INI: Final = "mockserver_record"
TARGETS_INI: Final = "mockserver_record_targets"
CASSETTE_MARKER: Final = "mockserver_cassette"
RECORD_MODES: Final = ("none", "once", "new_episodes", "all")
REPORT_SECTION: Final = "mockserver: unmatched requests"
REQUESTS_SECTION: Final = "mockserver: requests"
_REQUESTS_SHOWN: Final = 50
"""A failed test's report lists this many of its newest requests."""
_RUN_REPORT_OUTPUT: Final = "mockserver_run_report"
UNUSED_SECTION: Final = "mockserver: file stubs no test hit"
_WORKER_OUTPUT: Final = "mockserver_stub_usage"
_API_SOURCE: Final = "api"
"""The `source` of a stub added through the admin API; a file stub's is `path:line`."""
_FAILED = pytest.StashKey[bool]()
_PINNED = pytest.StashKey[str | None]()
SIDECAR_READY_TIMEOUT: Final = 30.0
"""Seconds to wait for a sidecar's health check: a container may still be starting."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "mock HTTP server for the application's APIs")
    group.addoption(
        "--mockserver-stubs",
        action="append",
        dest="mockserver_stubs",
        metavar="DIR",
        default=None,
        help="stub directory of the in-process mock server (repeatable; default: "
        "ini mockserver_stubs, else stubs/ when it exists). Ignored when MOCKSERVER_URL is set.",
    )
    parser.addini(
        "mockserver_stubs",
        type="paths",
        default=[],
        help="stub directories of the in-process mock server, relative to the ini file "
        "(default: stubs/)",
    )
    group.addoption(
        "--mockserver-unused",
        action="store_true",
        dest="mockserver_unused",
        default=False,
        help="at the end of the run, list the file stubs that no test hit (each test's hits are "
        "read before its namespace is removed; xdist workers' are merged)",
    )
    group.addoption(
        "--mockserver-report",
        dest="mockserver_report",
        metavar="PATH.html",
        default=None,
        help="write the whole run's requests (each test's namespace, with its stubs, hits and "
        "near misses; secrets redacted) as one self-contained HTML report",
    )
    parser.addini(
        STRICT_INI,
        type="bool",
        default=False,
        help="a test whose requests include one that no stub matched fails at teardown, "
        f"listing them with their near misses (per test: @pytest.mark.{STRICT_MARKER})",
    )
    group.addoption(
        "--mockserver-record",
        dest="mockserver_record",
        choices=RECORD_MODES,
        default=None,
        help="record mode of each test's cassette (as vcrpy's; default: ini mockserver_record, "
        "else none: replay only)",
    )
    parser.addini(RECORD_INI, type="string", default="none", help="the default record mode")
    parser.addini(
        TARGETS_INI,
        type="args",
        default=[],
        help="recorded services of the in-process mock server: SERVICE=URL ... (each served "
        "under /SERVICE)",
    )
    parser.addini(
        NAMESPACE_INI,
        type="string",
        default="",
        help=f"every test uses this one namespace, reset before each test (for an application "
        f"with fixed base URLs; tests run serially). {NAMESPACE_ENV} overrides it.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{STUB_FILES_MARKER}(*paths): load these stub files (relative to the rootdir or to the "
        "test file) into the mock server for this test only",
    )
    config.addinivalue_line(
        "markers",
        f"{CASSETTE_MARKER}(name): this test's recordings are cassettes/<module stem>/<name>.yaml "
        "beside it (default: the test's name)",
    )
    config.addinivalue_line(
        "markers",
        f"{STRICT_MARKER}(on=True): fail the test at teardown when a request it caused matched "
        f"no stub (ini {STRICT_INI} sets it for every test; on=False turns it off for one)",
    )
    if config.getoption("mockserver_unused", False):
        config.stash[_USAGE] = StubUsage()
    if config.getoption("mockserver_report", None):
        config.stash[_RUN_REPORT] = RunReport()
    pinned = _pinned_namespace(config)
    config.stash[_PINNED] = pinned
    workers = _xdist_workers(config)
    if pinned and workers > 1:
        raise pytest.UsageError(
            f"mockserver: every test uses the namespace {pinned!r} ({_pinned_source()}), "
            f"which one application under test shares, and each test resets it: they cannot run "
            f"in parallel, but {workers} xdist workers were asked for. Run with -n 0 (or -n 1), "
            f"or unset {NAMESPACE_ENV} to give each test a namespace of its own."
        )


def _pinned_source() -> str:
    return NAMESPACE_ENV if os.environ.get(NAMESPACE_ENV) else f"ini {NAMESPACE_INI}"


def _pinned_namespace(config: pytest.Config) -> str | None:
    """The namespace every test uses, or None: each test gets a fresh one."""
    configured: str = config.getini(NAMESPACE_INI)
    name = os.environ.get(NAMESPACE_ENV) or configured.strip()
    if not name:
        return None
    try:  # the client's own check of the name, before any test runs
        MockServerClient("http://127.0.0.1", namespace=name)
    except ValueError as error:
        raise pytest.UsageError(f"mockserver: {_pinned_source()}: {error}") from None
    return name


def _xdist_workers(config: pytest.Config) -> int:
    """How many pytest-xdist workers this run starts (0: no distribution).

    pytest-xdist turns -n N (or auto) into N `--tx` specs before pytest_configure; a spec may
    stand for several workers ("3*popen"), as its parse_spec_config reads them.
    """
    if getattr(config, "workerinput", None) is not None:
        return 0  # a worker: the controller has decided
    if config.getoption("dist", "no") == "no":
        return 0
    count = 0
    for spec in config.getoption("tx", None) or []:
        times, star, _ = spec.partition("*")
        count += int(times) if star and times.isdigit() else 1
    return count


def _stub_dirs(config: pytest.Config) -> tuple[Path, ...]:
    given: list[str] | None = config.getoption("mockserver_stubs")
    if given:
        return tuple(config.invocation_params.dir / path for path in given)
    configured: list[Path] = config.getini("mockserver_stubs")
    if configured:
        return tuple(configured)
    # the default is optional: a suite may add every stub through the API
    default = config.rootpath / "stubs"
    return (default,) if default.is_dir() else ()


@pytest.fixture(scope="session")
def _mockserver_session(pytestconfig: pytest.Config) -> Iterator[MockServerClient]:
    """One server per session (per xdist worker): the sidecar, or one started here."""
    usage = pytestconfig.stash.get(_USAGE, None)
    url = os.environ.get(URL_ENV)
    if url:
        client = MockServerClient(url)
        client.wait_until_ready(SIDECAR_READY_TIMEOUT)
        client.reset()  # a previous run may have left stubs behind
        yield client
        if usage is not None:  # requests sent without a namespace hit stubs too
            usage.collect(client)
        return

    # imported here: only a session that uses the fixture pays for aiohttp and the server
    from mockserver.config import Settings
    from mockserver.errors import MockServerError
    from mockserver.server import start_in_thread

    # the targets replay only unless a test's cassette sets its namespace's mode
    settings = Settings(
        stubs=_stub_dirs(pytestconfig),
        port=0,
        record=_record_targets(pytestconfig),
        record_mode="none",
    )
    try:
        running = start_in_thread(settings)
    except MockServerError as error:
        pytest.fail(f"mockserver could not start:\n{error}", pytrace=False)
    try:
        client = MockServerClient(running.url)
        yield client
        if usage is not None:
            usage.collect(client)
    finally:
        running.stop()


@pytest.fixture
def mockserver(
    _mockserver_session: MockServerClient, request: pytest.FixtureRequest
) -> Iterator[MockServerClient]:
    """A client of the mock server; point the application at `mockserver.url`.

    Each test works in a namespace of its own (`mockserver.url` carries its `/~name` prefix),
    so its stubs, requests, counters, scenario states and clock are its own even when many test
    processes share one sidecar; the namespace is removed after the test. With a pinned
    namespace (MOCKSERVER_NAMESPACE), every test works in that one, reset before the test (the
    reset puts its clock back on real time too).
    """
    pinned = request.config.stash.get(_PINNED, None)
    if pinned:
        client = _mockserver_session.in_namespace(pinned)
        # what the previous test (or run) left: its stubs, requests, counters, scenario states
        client.reset()
    else:
        client = _mockserver_session.in_namespace(f"test-{uuid.uuid4().hex[:20]}")
    strict_failure = ""
    try:
        # the farthest marker first, so a test's own files win over its class's or module's
        for marker in reversed(list(request.node.iter_markers(STUB_FILES_MARKER))):
            for name in marker.args:
                client.add_stubs(_stub_file(request, name).read_text(encoding="utf-8"))
        cassette = Cassette.of(request)
        loaded = cassette.load_into(client)
        yield client
        if loaded is not None:
            if loaded:  # it recorded: the cassette is written back
                cassette.save_from(client)
            with contextlib.suppress(OSError, AdminError):  # the server forgets it
                client.clear_recordings()
        # a test that failed already lists its unmatched requests in its report
        if _strict(request) and not request.node.stash.get(_FAILED, False):
            strict_failure = _strict_failure(client, request.config.rootpath)
    finally:
        usage = request.config.stash.get(_USAGE, None)
        if usage is not None:  # before the namespace, and its hit counts, are gone
            usage.collect(client)
        run_report = request.config.stash.get(_RUN_REPORT, None)
        if run_report is not None:
            failed_yet = bool(strict_failure) or request.node.stash.get(_FAILED, False)
            run_report.collect(
                client, f"{request.node.nodeid} ({'failed' if failed_yet else 'passed'})"
            )
        # a failed test's namespace stays, so a sidecar's --journal-dump keeps its requests;
        # a pinned one always stays: the application under test keeps sending to it
        failed = strict_failure or request.node.stash.get(_FAILED, False)
        if not pinned and not failed:
            with contextlib.suppress(OSError, AdminError):  # a dead server reports elsewhere
                client.remove_namespace()
    if strict_failure:
        pytest.fail(strict_failure, pytrace=False)


def _record_mode(config: pytest.Config) -> str:
    mode: str = config.getoption("mockserver_record", None) or config.getini(RECORD_INI) or "none"
    if mode not in RECORD_MODES:
        raise pytest.UsageError(
            f"mockserver: ini {RECORD_INI} = {mode!r}: expected one of {', '.join(RECORD_MODES)}"
        )
    return mode


def _record_targets(config: pytest.Config) -> tuple[tuple[str, str], ...]:
    targets = []
    for given in config.getini(TARGETS_INI):
        service, equals, url = str(given).partition("=")
        if not (service and equals and url):
            raise pytest.UsageError(
                f"mockserver: ini {TARGETS_INI}: {given!r} is not SERVICE=URL "
                "(stripe=https://api.stripe.com)"
            )
        targets.append((service, url))
    return tuple(targets)


_BODY_FILE: Final = re.compile(r"body_file: *['\"]?([^'\"\s]+)")


@dataclass(frozen=True)
class Cassette:
    """A test's recordings on disk: stub documents, one per service, and their body files
    under `__files/` beside them; and the mode they are used with."""

    path: Path
    mode: str

    @classmethod
    def of(cls, request: pytest.FixtureRequest) -> Cassette:
        marker = request.node.get_closest_marker(CASSETTE_MARKER)
        name = str(marker.args[0]) if marker is not None and marker.args else request.node.name
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "cassette"
        directory = request.path.parent / "cassettes" / request.path.stem
        return cls(directory / f"{safe}.yaml", _record_mode(request.config))

    def load_into(self, client: MockServerClient) -> bool | None:
        """Load the cassette into the test's namespace with its mode; whether the namespace
        records (the cassette is written back at teardown), None when nothing was loaded (a
        test that has no cassette and does not record)."""
        exists = self.path.is_file()
        mode = self.mode
        if mode == "once":  # recorded once: from then on, replayed only
            mode = "none" if exists else "all"
        if mode == "none" and not exists:
            return None
        text = self.path.read_text(encoding="utf-8") if exists else ""
        files = {
            name: (self.path.parent / name).read_bytes()
            for name in _BODY_FILE.findall(text)
            if (self.path.parent / name).is_file()
        }
        client.load_recordings(mode, text, files)
        return mode != "none"

    def save_from(self, client: MockServerClient) -> None:
        """Write what the namespace recorded (earlier stubs included), if anything."""
        documents = client.recordings()
        if not documents:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("---\n".join(document.yaml for document in documents), "utf-8")
        for document in documents:
            for name, content in document.files.items():
                target = self.path.parent / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)


def _strict(request: pytest.FixtureRequest) -> bool:
    """The closest mockserver_strict marker decides, else the ini option."""
    marker = request.node.get_closest_marker(STRICT_MARKER)
    if marker is not None:
        return bool(marker.args[0]) if marker.args else bool(marker.kwargs.get("on", True))
    return bool(request.config.getini(STRICT_INI))


def _strict_failure(client: MockServerClient, root: Path) -> str:
    """The strict teardown's message, or "" when every request of the test matched a stub."""
    try:
        entries = client.unmatched()
    except (OSError, AdminError) as error:
        return f"{STRICT_MARKER}: could not read the unmatched requests from {client.url}: {error}"
    if not entries:
        return ""
    count = f"{len(entries)} request{'s' * (len(entries) != 1)}"
    lines = [f"{STRICT_MARKER}: {count} of this test matched no stub:"]
    lines += [_describe_unmatched(entry, root) for entry in entries]
    return "\n".join(lines)


def _stub_file(request: pytest.FixtureRequest, name: str | os.PathLike[str]) -> Path:
    candidates = [request.config.rootpath / name, request.path.parent / name]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(path) for path in dict.fromkeys(candidates))
    pytest.fail(f"{STUB_FILES_MARKER}: stub file {name} not found (tried {tried})", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    if report.when == "call" and report.failed:
        client = getattr(item, "funcargs", {}).get("mockserver")
        if isinstance(client, MockServerClient):
            sections = (
                (REQUESTS_SECTION, _requests_section(client)),
                (REPORT_SECTION, _unmatched_section(client, item.config.rootpath)),
            )
            for title, section in sections:
                if section:
                    report.sections.append((title, section))
                    # JUnit XML writes a test's properties (from its teardown report, which
                    # copies the item's) whatever its junit_logging
                    item.user_properties.append((title, section))
    return report


def _requests_section(client: MockServerClient) -> str:
    """The test's newest requests, one line each; "" when there were none."""
    try:
        entries = client.requests(limit=_REQUESTS_SHOWN)
    except (OSError, AdminError) as error:  # the report must not hide the test's own failure
        return f"could not read the requests from {client.url}: {error}"
    lines = [entry.describe() for entry in entries]
    if len(entries) == _REQUESTS_SHOWN:
        lines.insert(0, f"(the newest {_REQUESTS_SHOWN})")
    return "\n".join(lines)


def _unmatched_section(client: MockServerClient, root: Path) -> str:
    """The test's unmatched requests, each with its near misses; "" when there were none."""
    try:
        entries = client.unmatched()
    except (OSError, AdminError) as error:  # the report must not hide the test's own failure
        return f"could not read the unmatched requests from {client.url}: {error}"
    return "\n".join(_describe_unmatched(entry, root) for entry in entries)


def _describe_unmatched(entry: JournalEntry, root: Path) -> str:
    lines = [entry.describe()]
    prefix = f"{root}{os.sep}"
    for miss in entry.near_misses:
        if miss.source and miss.source.startswith(prefix):  # stubs/x.yaml:5 reads better
            miss = replace(miss, source=miss.source.removeprefix(prefix))
        lines.append(f"    near miss: {miss.describe()}")
    if not entry.near_misses:
        lines.append("    no stub came close")
    return "\n".join(lines)


# --- --mockserver-unused ----------------------------------------------------------------------


@dataclass
class StubUsage:
    """File stubs seen (id -> source) and the ids of those hit, over every test of the run."""

    stubs: dict[str, str] = field(default_factory=dict)
    hit: set[str] = field(default_factory=set)
    read: bool = False  # some test's namespace was read

    def collect(self, client: MockServerClient) -> None:
        """Add what `client`'s namespace knows: its file stubs and their hit counts."""
        try:
            listed = client.stubs()
        except (OSError, AdminError):  # a dead server reports elsewhere
            return
        self.read = True
        for stub in listed:
            source = str(stub.get("source", _API_SOURCE))
            if source == _API_SOURCE:
                continue
            self.stubs[str(stub["id"])] = source
            if stub.get("hits"):
                self.hit.add(str(stub["id"]))

    def merge(self, data: Mapping[str, Any]) -> None:
        self.stubs.update(data.get("stubs", {}))
        self.hit.update(data.get("hit", []))
        self.read = self.read or bool(data.get("read"))

    def unused(self) -> list[tuple[str, str]]:
        """(source, id) of the stubs no test hit, in file order."""
        return sorted(
            (
                (source, stub_id)
                for stub_id, source in self.stubs.items()
                if stub_id not in self.hit
            ),
            key=lambda each: _source_order(each[0]),
        )


_USAGE = pytest.StashKey[StubUsage]()


# --- --mockserver-report ----------------------------------------------------------------------


@dataclass
class RunReport:
    """Each test's namespace as the report shows it: label, entries (with the near misses of
    the unmatched ones), stubs with hits, scenario states."""

    namespaces: list[dict[str, Any]] = field(default_factory=list)

    def collect(self, client: MockServerClient, label: str) -> None:
        try:
            entries = [dict(entry.raw) for entry in client.requests()]
            misses = {entry.seq: entry.raw.get("near_misses", []) for entry in client.unmatched()}
            stubs, scenarios = client.stubs(), client.scenarios()
        except (OSError, AdminError):  # a dead server reports elsewhere
            return
        for entry in entries:
            if entry.get("seq") in misses:
                entry["near_misses"] = misses[entry["seq"]]
        self.namespaces.append(
            {
                "name": client.namespace,
                "label": label,
                "entries": entries,
                "stubs": stubs,
                "scenarios": scenarios,
            }
        )

    def write(self, path: Path) -> int:
        from mockserver import report  # pure: no aiohttp, loaded only at the end of such a run

        tests = len(self.namespaces)
        return report.write(
            path,
            [report.ReportNamespace(**namespace) for namespace in self.namespaces],
            title=f"pytest run, {tests} test{'s' * (tests != 1)} with the mockserver fixture",
        )


_RUN_REPORT = pytest.StashKey[RunReport]()
_RUN_REPORT_WRITTEN = pytest.StashKey[str]()


def _source_order(source: str) -> tuple[str, int]:
    """ "stubs/a.yaml:12" -> ("stubs/a.yaml", 12)."""
    path, _, line = source.rpartition(":")
    return (path, int(line)) if line.isdigit() else (source, 0)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _finish_run_report(session.config)
    usage = session.config.stash.get(_USAGE, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if usage is not None and workeroutput is not None:  # an xdist worker: to the controller
        workeroutput[_WORKER_OUTPUT] = {
            "stubs": usage.stubs,
            "hit": sorted(usage.hit),
            "read": usage.read,
        }


def _finish_run_report(config: pytest.Config) -> None:
    """A worker hands its tests' namespaces to the controller; the controller (or a run
    without xdist) writes the report."""
    run_report = config.stash.get(_RUN_REPORT, None)
    if run_report is None:
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_RUN_REPORT_OUTPUT] = run_report.namespaces
        return
    path = config.invocation_params.dir / config.getoption("mockserver_report")
    try:
        count = run_report.write(path)
    except OSError as error:
        config.stash[_RUN_REPORT_WRITTEN] = f"could not write {path}: {error.strerror or error}"
        return
    config.stash[_RUN_REPORT_WRITTEN] = (
        f"{len(run_report.namespaces)} tests, {count} requests written to {path}"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist's controller: a worker finished; merge the stubs its tests hit and the
    namespaces its tests left for the report."""
    usage = node.config.stash.get(_USAGE, None)
    data = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if usage is not None and data:
        usage.merge(data)
    run_report = node.config.stash.get(_RUN_REPORT, None)
    namespaces = getattr(node, "workeroutput", {}).get(_RUN_REPORT_OUTPUT)
    if run_report is not None and namespaces:
        run_report.namespaces.extend(namespaces)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    written = config.stash.get(_RUN_REPORT_WRITTEN, None)
    if written is not None:
        terminalreporter.write_sep("=", f"mockserver report: {written}")
    usage = config.stash.get(_USAGE, None)
    if usage is None or getattr(config, "workeroutput", None) is not None:
        return
    if not usage.stubs:
        terminalreporter.write_sep("=", UNUSED_SECTION)
        terminalreporter.write_line(
            "the mock server has no file stubs"
            if usage.read
            else "no test used the mockserver fixture: no stub to report"
        )
        return
    unused = usage.unused()
    terminalreporter.write_sep(
        "=", f"{UNUSED_SECTION}: {len(unused)} of {len(usage.stubs)}", yellow=bool(unused)
    )
    prefix = f"{config.rootpath}{os.sep}"
    for source, stub_id in unused:
        terminalreporter.write_line(f"{source.removeprefix(prefix)}  {stub_id}")
