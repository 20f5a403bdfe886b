"""Running the app: on the main thread with signal handling, or in a background thread.

`serve()` listens until SIGTERM/SIGINT, then stops accepting, lets in-flight requests finish for
up to `shutdown_grace` and cuts the rest (the app journals them). `start_in_thread()` runs the
same server on its own event loop for the pytest fixture and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import signal
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from mockserver.admin.context import LISTENING_KEY
from mockserver.app import CALLBACKS_KEY, STORE_KEY, build_app, mock_runner
from mockserver.config import Settings
from mockserver.errors import MockServerError, StartupError, StubLoadError
from mockserver.loader import STUB_SUFFIXES, LoadedStubs, load_paths
from mockserver.redaction import Redaction
from mockserver.state import STARTED
from mockserver.transport import runner_options, tls_context

_THREAD_START_TIMEOUT: Final = 30.0
_WATCH_DEBOUNCE_MS: Final = 200
log = logging.getLogger("mockserver")


@dataclass(frozen=True, slots=True)
class Listening:
    """Where a started server listens."""

    host: str
    port: int
    scheme: str = "http"
    also: tuple[str, ...] = ()
    """The other addresses it listens on, on the same port (--host given several times)."""

    @property
    def url(self) -> str:
        return self._url(self.host)

    @property
    def urls(self) -> tuple[str, ...]:
        """Every address it listens on, `url` first."""
        return tuple(self._url(host) for host in (self.host, *self.also))

    def _url(self, host: str) -> str:
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port}"


async def _start(settings: Settings, loaded: LoadedStubs | None) -> tuple[web.AppRunner, Listening]:
    try:
        ssl_context = tls_context(settings)
    except (OSError, ssl.SSLError) as error:
        raise StartupError(f"cannot load the TLS certificate or key: {error}") from None
    app = build_app(settings, loaded)
    runner = mock_runner(
        app,
        settings,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_grace,
        access_log=None,
        **runner_options(settings),
    )
    await runner.setup()
    port = settings.port
    for bound in settings.listen_on:  # every address on one port: the first one's, if chosen
        site = web.TCPSite(runner, bound, port, reuse_address=True, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            if error.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {bound} is already in use") from None
            raise StartupError(
                f"cannot listen on {bound}:{port}: {error.strerror or error}"
            ) from None
        port = int(runner.addresses[0][1])
    for bound in settings.listen_on:
        if settings.admin_token is None and not _is_loopback(bound):
            log.warning(
                "the admin API on %s:%s is open to anyone who can reach it: set --admin-token "
                "(or MOCKSERVER_ADMIN_TOKEN) to require a bearer token",
                bound,
                port,
            )
    scheme = "https" if ssl_context is not None else "http"
    hosts = [str(address[0]) for address in runner.addresses]
    listening = Listening(hosts[0], port, scheme, also=tuple(hosts[1:]))
    runner.app[LISTENING_KEY].extend(listening.urls)  # the health call lists them
    return runner, listening


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


async def watch_stubs(settings: Settings, app: web.Application, stop: asyncio.Event) -> None:
    """Reload the stub files when they change, through the same atomic swap as the admin call.

    A file that fails to load keeps the previous set in force and logs every path:line error.
    """
    from watchfiles import awatch  # only --watch needs it

    def relevant(_change: object, path: str) -> bool:
        return path.lower().endswith(STUB_SUFFIXES) or "__files" in Path(path).parts

    store = app[STORE_KEY]
    async for _changes in awatch(
        *settings.stubs, watch_filter=relevant, debounce=_WATCH_DEBOUNCE_MS, stop_event=stop
    ):
        try:
            loaded = await asyncio.to_thread(load_paths, settings.stubs)
        except StubLoadError as error:
            for stub_error in error.errors:
                log.error("%s", stub_error)
            log.error("reload failed: the previous %d stubs stay in force", len(store.stubs))
            continue
        await store.swap_files(loaded.stubs)
        app[CALLBACKS_KEY].reload_events(loaded)
        log.info("reloaded %d stubs from %d files", len(loaded.stubs), len(loaded.files))


async def _write_dump(app: web.Application, path: Path, redaction: Redaction) -> int:
    """Write the journal as JSON Lines (oldest first) for a CI job to keep, secrets redacted
    (the journal in memory keeps what arrived); returns the count."""
    from mockserver.report import redacted_entry  # near misses' actual values redacted too

    store = app[STORE_KEY]
    entries = []
    for name in (None, *await store.namespaces()):
        entries.extend((await (await store.peek(name)).state.journal.find()).entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as dump:
        for entry in entries:
            # ASCII: any text fits; an unmatched entry keeps its near misses (for `report`)
            shown = redacted_entry(entry.to_json(near_misses=not entry.outcome.matched), redaction)
            dump.write(json.dumps(shown, default=str) + "\n")
    await _write_callbacks(app, callbacks_dump(path), redaction)
    return len(entries)


def callbacks_dump(path: Path) -> Path:
    """Where a journal dump's callback attempts go: `journal.jsonl` -> `journal.callbacks.jsonl`."""
    return path.with_name(f"{path.stem}.callbacks{path.suffix or '.jsonl'}")


async def _write_callbacks(app: web.Application, path: Path, redaction: Redaction) -> None:
    """Write every namespace's callback attempts as JSON Lines beside the journal dump (oldest
    first per namespace, each with its `namespace`), secrets redacted; nothing when none was
    sent."""
    store = app[STORE_KEY]
    attempts = []
    for name in (None, *await store.namespaces()):
        for attempt in await (await store.peek(name)).state.attempts():
            attempts.append({"namespace": name, **redaction.callback_attempt(attempt)})
    if not attempts:
        return
    with path.open("w", encoding="utf-8") as dump:
        for attempt in attempts:
            dump.write(json.dumps(attempt) + "\n")


async def _write_report(app: web.Application, path: Path, redaction: Redaction) -> int:
    """Write the journal of every namespace, with its stubs (and their hits) and scenario
    states, as one HTML report, secrets redacted; returns how many entries it holds."""
    from mockserver import report  # only a shutdown that writes a report needs it

    store = app[STORE_KEY]
    namespaces = []
    for name in (None, *await store.namespaces()):
        scope = await store.peek(name)
        page = await scope.state.journal.find()
        hits = await scope.state.hits()
        states = await scope.state.scenarios()
        namespaces.append(
            report.ReportNamespace(
                name,
                [entry.to_json(near_misses=not entry.outcome.matched) for entry in page.entries],
                [{**stub.describe(), "hits": hits.get(stub.id, 0)} for stub in scope.stubs],
                {
                    each: states.get(each, STARTED)
                    for each in sorted(scope.scenario_names() | set(states))
                },
            )
        )
    title = f"journal at shutdown, {sum(len(each.entries) for each in namespaces)} requests"
    return await asyncio.to_thread(report.write, path, namespaces, title=title, redaction=redaction)


async def serve(
    settings: Settings,
    loaded: LoadedStubs | None = None,
    on_ready: Callable[[Listening], None] | None = None,
) -> int | None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully and dump the journal if asked.

    Returns how many entries the dump holds (None without --journal-dump).
    """
    runner, listening = await _start(settings, loaded)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = (
        asyncio.create_task(watch_stubs(settings, runner.app, stop)) if settings.watch else None
    )
    if on_ready is not None:
        on_ready(listening)
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            await watcher
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        app = runner.app
        await runner.cleanup()  # in-flight requests finish or are cut (and journaled) here
    if settings.journal_report is not None:
        try:
            written = await _write_report(app, settings.journal_report, settings.redaction())
        except OSError as error:
            raise MockServerError(
                f"cannot write the journal report to {settings.journal_report}: "
                f"{error.strerror or error}"
            ) from None
        if settings.journal_dump is None:
            return written
    if settings.journal_dump is None:
        return None
    try:
        return await _write_dump(app, settings.journal_dump, settings.redaction())
    except OSError as error:
        raise MockServerError(
            f"cannot write the journal dump to {settings.journal_dump}: {error.strerror or error}"
        ) from None


class RunningServer:
    """A server on a background thread with its own event loop."""

    def __init__(self, listening: Listening, stop: Callable[[], None]) -> None:
        self.host = listening.host
        self.port = listening.port
        self.url = listening.url
        self._stop = stop

    def stop(self) -> None:
        """Shut down (gracefully, as on SIGTERM) and wait for the thread to end."""
        self._stop()


def start_in_thread(settings: Settings, loaded: LoadedStubs | None = None) -> RunningServer:
    """Start a server in a daemon thread; returns once it listens (or raises why it cannot)."""
    ready = threading.Event()
    outcome: dict[str, object] = {}
    loop = asyncio.new_event_loop()
    stop_event: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop_event
        stop_event = asyncio.Event()
        try:
            runner, listening = await _start(settings, loaded)
        except BaseException as error:
            outcome["error"] = error
            ready.set()
            return
        outcome["listening"] = listening
        watcher = (
            asyncio.create_task(watch_stubs(settings, runner.app, stop_event))
            if settings.watch
            else None
        )
        ready.set()
        try:
            await stop_event.wait()
        finally:
            if watcher is not None:
                await watcher
            await runner.cleanup()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="mockserver", daemon=True)
    thread.start()
    if not ready.wait(_THREAD_START_TIMEOUT):
        raise StartupError("the server thread did not start in time")
    error = outcome.get("error")
    if isinstance(error, BaseException):
        thread.join()
        raise error
    listening = outcome["listening"]
    assert isinstance(listening, Listening)

    def stop() -> None:
        if thread.is_alive() and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop_event.set)
            thread.join()

    return RunningServer(listening, stop)
