"""The conformance checks with the Python HTTP clients people test with: requests, httpx,
urllib3 and aiohttp (always installed: the test extra). Each sends the plan in its own way
(its own multipart encoder where it has one) in its own namespace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import httpx
import pytest
import requests
import urllib3

from mockserver.server import RunningServer
from tests.conformance.checks import CHECKS, Check, ClientRun, FormField, Observation
from tests.conformance.conftest import assert_conforms, namespace_url


def _files(form: tuple[FormField, ...]) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    data = {item.name: item.value for item in form if item.value is not None}
    files = {
        item.name: (item.filename or "", item.data, item.content_type or "")
        for item in form
        if item.value is None
    }
    return data, files


def with_requests(base: str, check: Check) -> Observation:
    headers = dict(check.sent_headers())
    if check.form:
        del headers["Content-Type"]  # requests writes its own, with its boundary
        data, files = _files(check.form)
        answer = requests.request(
            check.method, base + check.path, headers=headers, data=data, files=files, timeout=10
        )
    else:
        answer = requests.request(
            check.method, base + check.path, headers=headers, data=check.body or None, timeout=10
        )
    raw = answer.raw.headers
    return Observation(answer.status_code, {k.lower(): raw.getlist(k) for k in raw}, answer.content)


def with_httpx(base: str, check: Check) -> Observation:
    headers = dict(check.sent_headers())
    with httpx.Client(timeout=10) as client:
        if check.form:
            del headers["Content-Type"]
            data, files = _files(check.form)
            answer = client.request(
                check.method, base + check.path, headers=headers, data=data, files=files
            )
        else:
            answer = client.request(
                check.method, base + check.path, headers=headers, content=check.body or None
            )
    seen: dict[str, list[str]] = {}
    for name, value in answer.headers.multi_items():
        seen.setdefault(name.lower(), []).append(value)
    return Observation(answer.status_code, seen, answer.content, answer.http_version[5:])


def with_urllib3(base: str, check: Check) -> Observation:
    headers = dict(check.sent_headers())
    with urllib3.PoolManager() as pool:
        if check.form:
            del headers["Content-Type"]
            fields: dict[str, str | tuple[str, bytes, str]] = {}
            for item in check.form:
                fields[item.name] = (
                    item.value
                    if item.value is not None
                    else (item.filename or "", item.data, item.content_type or "")
                )
            answer = pool.request(check.method, base + check.path, headers=headers, fields=fields)
        else:
            answer = pool.request(
                check.method, base + check.path, headers=headers, body=check.body or None
            )
    seen = {name.lower(): answer.headers.getlist(name) for name in answer.headers}
    return Observation(answer.status, seen, answer.data)


async def _aiohttp(base: str, check: Check) -> Observation:
    headers = dict(check.sent_headers())
    async with aiohttp.ClientSession() as session:
        data: aiohttp.FormData | bytes | None = check.body or None
        if check.form:
            del headers["Content-Type"]
            form = aiohttp.FormData()
            for item in check.form:
                if item.value is not None:
                    form.add_field(item.name, item.value)
                else:
                    form.add_field(
                        item.name, item.data, filename=item.filename, content_type=item.content_type
                    )
            data = form
        async with session.request(
            check.method, base + check.path, headers=headers, data=data
        ) as answer:
            body = await answer.read()
            seen: dict[str, list[str]] = {}
            for name, value in answer.raw_headers:
                seen.setdefault(name.decode().lower(), []).append(value.decode())
            version = f"{answer.version.major}.{answer.version.minor}"
            return Observation(answer.status, seen, body, version)


def with_aiohttp(base: str, check: Check) -> Observation:
    return asyncio.run(_aiohttp(base, check))


CLIENTS: dict[str, Callable[[str, Check], Observation]] = {
    "requests": with_requests,
    "httpx": with_httpx,
    "urllib3": with_urllib3,
    "aiohttp": with_aiohttp,
}
_runs: dict[tuple[str, str], ClientRun] = {}


def run_of(server: RunningServer, client: str) -> ClientRun:
    """The client's run of the whole plan, made once (the journal then holds it all)."""
    key = (server.url, client)
    if key not in _runs:
        run = ClientRun(client)
        send = CLIENTS[client]
        for check in run.checks():
            try:
                run.observed[check.name] = send(namespace_url(server, client), check)
            except Exception as error:  # reported per check, with the client's own words
                run.failed[check.name] = f"{type(error).__name__}: {error}"
        _runs[key] = run
    return _runs[key]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize(
    "check", [check for check in CHECKS if not check.http10], ids=lambda check: check.name
)
def test_python_client_conforms(
    conformance_server: RunningServer, client: str, check: Check
) -> None:
    assert_conforms(conformance_server, run_of(conformance_server, client), check)


def test_the_readme_table_lists_every_check() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent / "README.md").read_text()
    missing = [check.name for check in CHECKS if f"| `{check.name}` |" not in readme]
    assert missing == []
