"""An attacker's view over real sockets: admin token, TLS and mTLS, limits, and boxed stub power."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from mockserver import MockServerClient
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.serving import write_stubs

TOKEN = "s3cret-token"
STUBS = {"s.yaml": "- id: open\n  request: {path: /open}\n  response: {json: {ok: true}}\n"}

StartServer = Callable[..., RunningServer]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[StartServer]:
    servers: list[RunningServer] = []

    def run(files: dict[str, str | bytes] | None = None, **options: Any) -> RunningServer:
        stubs = write_stubs(tmp_path / f"stubs{len(servers)}", files or STUBS)
        server = start_in_thread(Settings(stubs=(stubs,), port=0, **options))
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


def call(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def raw(server: RunningServer, data: bytes) -> tuple[int, bytes]:
    """Send bytes no HTTP client would, and read the one response (status, body)."""
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(data)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, response.read()


# --- admin authentication ---------------------------------------------------------------------


def test_admin_calls_need_the_bearer_token(start: StartServer) -> None:
    server = start(admin_token=TOKEN)
    admin = f"{server.url}/__admin"
    assert call(f"{admin}/stubs")[0] == 401
    status, error = call(f"{admin}/stubs", headers={"Authorization": "Bearer wrong"})
    assert (status, error["error"]) == (401, "admin API: wrong bearer token")
    assert call(f"{admin}/stubs?token={TOKEN}")[0] == 401  # never from the query string
    assert call(f"{admin}/stubs", headers={"Authorization": TOKEN})[0] == 401
    assert call(f"{admin}/reset", "POST")[0] == 401
    assert call(f"{admin}/ns/x/requests")[0] == 401
    assert call(f"{admin}/no-such-call")[0] == 401  # unknown paths reveal nothing either
    status, listed = call(f"{admin}/stubs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (status, [stub["id"] for stub in listed["stubs"]]) == (200, ["open"])


def test_health_and_the_mocked_surface_stay_open(start: StartServer) -> None:
    server = start(admin_token=TOKEN)
    assert call(f"{server.url}/__admin/health")[0] == 200
    assert call(f"{server.url}/open") == (200, {"ok": True})


def test_clients_send_the_token_from_an_argument_or_the_environment(
    start: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(admin_token=TOKEN)
    assert MockServerClient(server.url, token=TOKEN).count() == 0
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", TOKEN)
    assert MockServerClient(server.url).in_namespace("n").count() == 0
    monkeypatch.delenv("MOCKSERVER_ADMIN_TOKEN")
    with pytest.raises(Exception, match="401"):
        MockServerClient(server.url).count()


def test_an_open_admin_api_on_a_public_address_is_warned_about(
    start: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        start(host="0.0.0.0")
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert "--admin-token" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        start(host="0.0.0.0", admin_token=TOKEN)
        start(host="127.0.0.1")
    assert caplog.records == []


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


def tls_files(authority: trustme.CA, directory: Path) -> dict[str, Path]:
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    files = {"cert": directory / "cert.pem", "key": directory / "key.pem"}
    certificate.cert_chain_pems[0].write_to_path(str(files["cert"]))
    certificate.private_key_pem.write_to_path(str(files["key"]))
    files["ca"] = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(files["ca"]))
    return files


def test_https_with_a_verified_chain(
    start: StartServer, authority: trustme.CA, tmp_path: Path
) -> None:
    files = tls_files(authority, tmp_path)
    server = start(tls_cert=files["cert"], tls_key=files["key"])
    assert server.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(files["ca"]))
    with urllib.request.urlopen(f"{server.url}/open", context=context, timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True}
    untrusting = ssl.create_default_context()  # does not know our CA: the chain must fail
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{server.url}/open", context=untrusting, timeout=10)


def test_mtls_requires_a_client_certificate_and_journals_its_subject(
    start: StartServer, authority: trustme.CA, tmp_path: Path
) -> None:
    files = tls_files(authority, tmp_path)
    server = start(tls_cert=files["cert"], tls_key=files["key"], tls_client_ca=files["ca"])
    anonymous = ssl.create_default_context(cafile=str(files["ca"]))
    with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
        urllib.request.urlopen(f"{server.url}/open", context=anonymous, timeout=10)
    client_cert = authority.issue_cert("billing-app@example.test", common_name="billing-app")
    identified = ssl.create_default_context(cafile=str(files["ca"]))
    client_cert.configure_cert(identified)
    with urllib.request.urlopen(f"{server.url}/open", context=identified, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(
        f"{server.url}/__admin/requests", context=identified, timeout=10
    ) as response:
        (entry,) = json.loads(response.read())["requests"]
    assert "CN=billing-app" in entry["client_cert_subject"]


# --- limits -------------------------------------------------------------------------------------


def test_too_many_or_too_large_headers_are_431_json(start: StartServer) -> None:
    server = start()
    many = "".join(f"X-H{index}: v\r\n" for index in range(150))
    status, body = raw(server, f"GET /open HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    assert status == 431
    assert json.loads(body)["error"] == "request headers too large: more than 100 headers"
    large = "X-Big: " + "a" * 20_000
    status, body = raw(server, f"GET /open HTTP/1.1\r\nHost: x\r\n{large}\r\n\r\n".encode())
    assert status == 431
    assert json.loads(body)["error"].startswith("request headers too large")
    assert call(f"{server.url}/open")[0] == 200


def test_malformed_http_is_400_json_and_disturbs_no_one(start: StartServer) -> None:
    server = start()
    with socket.create_connection((server.host, server.port), timeout=10) as bystander:
        bystander.sendall(b"GET /open HTTP/1.1\r\nHost: x\r\n")  # headers not finished yet
        status, body = raw(server, b"\x16\x03\x01 not http at all\r\n\r\n")
        assert status == 400
        assert json.loads(body)["error"].startswith("malformed HTTP request")
        bystander.sendall(b"Connection: close\r\n\r\n")
        answer = bystander.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_client_too_slow_with_its_headers_is_cut_off(start: StartServer) -> None:
    server = start(client_timeout=0.5)
    with socket.create_connection((server.host, server.port), timeout=10) as slow:
        slow.sendall(b"GET /open HTTP/1.1\r\nHost: x\r\n")
        assert slow.recv(1024) == b""  # closed by the server, long before our 10 s


def test_a_client_too_slow_with_its_body_gets_408_and_is_journaled(start: StartServer) -> None:
    server = start(client_timeout=0.5)
    status, body = raw(
        server, b"POST /open HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part"
    )
    assert status == 408
    assert "not received within 0.5 s" in json.loads(body)["error"]
    _, listing = call(f"{server.url}/__admin/requests")
    (entry,) = listing["requests"]
    assert (entry["status"], entry["body_size"], entry["body_truncated"]) == (408, 9, True)


# --- stub-supplied power stays in its box -----------------------------------------------------


@pytest.mark.parametrize(
    "body_file",
    ["../../../../etc/passwd", "/etc/passwd", "__files/../../outside.txt", "link-out.txt"],
)
def test_body_file_from_the_admin_api_cannot_leave_the_stub_directory(
    start: StartServer, tmp_path: Path, body_file: str
) -> None:
    server = start()
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "stubs0" / "link-out.txt").symlink_to(tmp_path / "outside.txt")
    status, error = call(
        f"{server.url}/__admin/stubs",
        "POST",
        {"Content-Type": "application/json"},
        {"request": {"path": "/leak"}, "response": {"body_file": body_file}},
    )
    assert status == 400
    assert "outside the stub directories" in error["details"][0]["message"]


SANDBOX = """
- id: mro
  request: {path: /mro}
  response: {template: true, body: "{{ ''.__class__.__mro__ }}"}
- id: globals
  request: {path: /globals}
  response: {template: true, body: "{{ request.__init__.__globals__ }}"}
- id: huge-range
  request: {path: /range}
  response: {template: true, body: "{% for i in range(10**9) %}x{% endfor %}"}
- id: huge-output
  request: {path: /output}
  response: {template: true, body: "{{ 'x' * 100000000 }}"}
- id: header-split
  request: {path: /split}
  response:
    template: true
    headers: {X-Echo: "{{ request.query.v }}"}
- id: backtracking
  request: {path: /regex, query: {q: {matches: '(a+)+$'}}}
"""


@pytest.mark.parametrize(
    ("path", "stub_id"),
    [
        ("/mro", "mro"),
        ("/globals", "globals"),
        ("/range", "huge-range"),
        ("/output", "huge-output"),
        ("/split?v=a%0d%0aSet-Cookie:%20evil=1", "header-split"),
    ],
)
def test_templates_that_reach_too_far_answer_500_naming_the_stub(
    start: StartServer, path: str, stub_id: str
) -> None:
    server = start({"s.yaml": SANDBOX})
    status, error = call(server.url + path)
    assert status == 500
    assert error["stub_id"] == stub_id
    assert f"template error in stub {stub_id!r}" in error["error"]
    assert call(f"{server.url}/__admin/health")[0] == 200


def test_catastrophic_backtracking_cannot_stall_the_server(start: StartServer) -> None:
    server = start({"s.yaml": SANDBOX})
    status, body = call(f"{server.url}/regex?q={'a' * 5000}b")
    assert status == 404
    assert body["near_misses"][0]["field"] == "query.q"
    assert call(f"{server.url}/regex?q=aaa")[0] == 200
