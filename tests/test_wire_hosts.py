"""`--host` may be given several times (PRODUCT.md §10): the server listens on every address, on
one port, and its start-up line and health call list them all. IPv6 loopback cases skip on a
machine without ::1.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import requests

from mockserver.config import Settings
from mockserver.healthcheck import probe_from_env
from mockserver.server import start_in_thread
from tests.serving import write_stubs
from tests.test_cli import Server, run

STUBS = "- {id: open, request: {path: /open}, response: {body: open}}\n"


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) here")


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read()) if "/__admin" in url else response.read().decode()


@needs_ipv6
@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--host", "127.0.0.1", "--host", "::1"), {}),
        ((), {"MOCKSERVER_HOST": "127.0.0.1, ::1"}),
    ],
    ids=["flags", "variable"],
)
def test_the_server_listens_on_every_host_given(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": STUBS})
    started = Server("--stubs", str(stubs), "--port", "0", *args, env=env)
    try:
        line = started.output[-1]
        found = re.search(
            r"listening on (http://127\.0\.0\.1:(\d+)) and (http://\[::1\]:(\d+))", line
        )
        assert found is not None, line
        ipv4, port, ipv6, same_port = found.groups()
        assert port == same_port
        assert fetch(ipv4 + "/open") == "open"
        assert fetch(ipv6 + "/open") == "open"
        health = fetch(ipv6 + "/__admin/health")
        assert health["listening"] == [ipv4, ipv6]
        assert health["requests"] == 2  # one journal for both addresses
    finally:
        code, _, err = started.stop()
    assert code == 0, err


@needs_ipv6
def test_real_clients_reach_each_address_of_an_in_process_server(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": STUBS})
    server = start_in_thread(Settings(stubs=(stubs,), hosts=("127.0.0.1", "::1"), port=0))
    try:
        for host in ("127.0.0.1", "[::1]"):
            reply = requests.get(f"http://{host}:{server.port}/open", timeout=10)
            assert (reply.status_code, reply.text) == (200, "open")
        health = requests.get(f"{server.url}/__admin/health", timeout=10).json()
        assert health["listening"] == [
            f"http://127.0.0.1:{server.port}",
            f"http://[::1]:{server.port}",
        ]
    finally:
        server.stop()


def test_one_host_is_listed_alone(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": STUBS})
    started = Server("--stubs", str(stubs), "--port", "0")
    try:
        assert " and " not in started.output[-1]
        assert fetch(started.url + "/__admin/health")["listening"] == [started.url]
    finally:
        code, _, err = started.stop()
    assert code == 0, err


def test_a_host_already_taken_fails_naming_it(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": STUBS})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--stubs", str(stubs), "--port", str(port), "--host", "127.0.0.1")
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_settings_hosts() -> None:
    assert Settings(hosts=("::1", "127.0.0.1")).host == "::1"
    assert Settings(hosts=("::1", "127.0.0.1")).listen_on == ("::1", "127.0.0.1")
    assert Settings(host="0.0.0.0").listen_on == ("0.0.0.0",)


def test_the_health_probe_takes_the_first_host_of_a_list() -> None:
    probe = probe_from_env({"MOCKSERVER_HOST": "::1,127.0.0.1", "MOCKSERVER_PORT": "9000"})
    assert (probe.host, probe.port) == ("::1", 9000)
