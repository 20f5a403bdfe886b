"""Multipart bodies (PRODUCT.md §10): `body.multipart` matches parts by field name, the journal
lists them, near misses name the part field that differed. The parser on its own, then
requests, httpx and curl uploading to a real server on loopback."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from mockserver.client import MockServerClient
from mockserver.errors import StubLoadError
from mockserver.loader import load_paths
from mockserver.multipart import Part, parts
from tests.serving import ServeInThread, write_stubs

BINARY = b"\x00\x01\r\n--not-a-boundary\r\n\xff\xfe\r\n"


def encoded(fields: dict[str, Any], files: dict[str, Any]) -> tuple[str, bytes]:
    prepared = requests.Request("POST", "http://x/", data=fields, files=files).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.headers["Content-Type"], prepared.body


def test_parts_keep_each_part_as_sent() -> None:
    content_type, body = encoded(
        {"note": "héllo", "zip": "01234"},
        {"upload": ("a b.bin", BINARY, "application/octet-stream")},
    )
    assert parts(content_type, body) == (
        Part("note", None, None, "héllo".encode()),
        Part("zip", None, None, b"01234"),
        Part("upload", "a b.bin", "application/octet-stream", BINARY),
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"a": 1}'),
        ("multipart/form-data; boundary=b", b""),
        ("text/plain", b"--b\r\n\r\n--b--"),
    ],
    ids=["json", "empty", "not-multipart"],
)
def test_a_body_that_is_not_multipart_has_no_parts(content_type: str, body: bytes) -> None:
    assert parts(content_type, body) is None


def test_a_part_shows_text_or_base64_in_the_journal() -> None:
    assert Part("n", None, None, b"hi").to_json() == {
        "name": "n",
        "filename": None,
        "content_type": None,
        "size": 2,
        "text": "hi",
    }
    shown = Part("f", "x.bin", "application/octet-stream", BINARY).to_json()
    assert (shown["size"], base64.b64decode(shown["base64"])) == (len(BINARY), BINARY)
    assert "text" not in shown


UPLOAD = """
    - id: upload-report
      request:
        method: POST
        path: /reports
        body:
          multipart:
            title: Q3
            zip: 01234
            report:
              filename: {matches: '.*\\.csv'}
              content_type: text/csv
              body: {contains: "total,42"}
      response: {status: 201, json: {id: rep_1}}
"""
CSV = b"name,value\ntotal,42\n"


def test_a_part_matcher_reads_as_the_stub_says(tmp_path: Path) -> None:
    [stub] = load_paths([write_stubs(tmp_path / "stubs", {"s.yaml": UPLOAD})]).stubs
    multipart = stub.spec.request.body.multipart
    assert (multipart["title"].body.equals, multipart["zip"].body.equals) == ("Q3", "01234")
    assert multipart["report"].content_type.equals == "text/csv"
    assert multipart["report"].filename.matches.pattern == r".*\.csv"


def test_a_misspelt_part_field_is_named_with_its_line(tmp_path: Path) -> None:
    stubs = write_stubs(
        tmp_path / "stubs",
        {
            "s.yaml": "- request:\n    body:\n      multipart:\n"
            "        report: {filename: a.csv, content_typ: text/csv}\n"
        },
    )
    with pytest.raises(StubLoadError) as raised:
        load_paths([stubs])
    [error] = raised.value.errors
    assert str(error) == (
        f"{stubs / 's.yaml'}:4: request.body.multipart.report.content_typ: unknown field "
        "'content_typ'; did you mean 'content_type'?"
    )


def check_upload(server_url: str, post: Any) -> None:
    """Send the UPLOAD stub's form with `post(url, data, files)`; a matching one, then one whose
    file name differs; the journal through the admin API."""
    made = post(
        f"{server_url}/reports",
        {"title": "Q3", "zip": "01234"},
        {"report": ("q3.csv", CSV, "text/csv")},
    )
    assert made.status_code == 201, made.text
    missed = post(
        f"{server_url}/reports",
        {"title": "Q3", "zip": "01234"},
        {"report": ("q3.xlsx", CSV, "text/csv")},
    )
    assert missed.status_code == 404
    [near] = missed.json()["near_misses"]
    assert (near["stub_id"], near["field"], near["actual"]) == (
        "upload-report",
        "body.multipart.report.filename",
        "q3.xlsx",
    )
    entries = MockServerClient(server_url).requests()
    first = entries[0]
    assert [(p.name, p.filename, p.content_type, p.content) for p in first.multipart] == [
        ("title", None, None, b"Q3"),
        ("zip", None, None, b"01234"),
        ("report", "q3.csv", "text/csv", CSV),
    ]
    [raw] = requests.get(f"{server_url}/__admin/requests", params={"limit": 1}).json()["requests"]
    assert raw["multipart"][2] == {
        "name": "report",
        "filename": "q3.xlsx",
        "content_type": "text/csv",
        "size": len(CSV),
        "text": CSV.decode(),
    }


def test_requests_uploads_match(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": UPLOAD})
    check_upload(server.url, lambda url, data, files: requests.post(url, data=data, files=files))


def test_httpx_uploads_match(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": UPLOAD})
    check_upload(server.url, lambda url, data, files: httpx.post(url, data=data, files=files))


def test_a_binary_upload_is_journaled_as_base64(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread(
        {
            "s.yaml": """
                - request:
                    body: {multipart: {blob: {filename: b.bin, body: {present: true}}}}
                  response: {status: 204}
            """
        }
    )
    answer = httpx.post(f"{server.url}/x", files={"blob": ("b.bin", BINARY)})
    assert answer.status_code == 204
    [entry] = requests.get(f"{server.url}/__admin/requests").json()["requests"]
    [part] = entry["multipart"]
    assert (part["filename"], base64.b64decode(part["base64"])) == ("b.bin", BINARY)


def curl() -> str:
    found = shutil.which("curl")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required under CI=true (apt-get install -y curl)")
        pytest.skip("curl is not installed: apt-get install -y curl")
    return found


def test_curl_form_uploads_match(serve_in_thread: ServeInThread, tmp_path: Path) -> None:
    server = serve_in_thread({"s.yaml": UPLOAD})
    report = tmp_path / "q3.csv"
    report.write_bytes(CSV)
    done = subprocess.run(
        [
            curl(),
            "-sS",
            "-o",
            "-",
            "-w",
            "\\n%{http_code}",
            "-F",
            "title=Q3",
            "-F",
            "zip=01234",
            "-F",
            f"report=@{report};type=text/csv",
            f"{server.url}/reports",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.splitlines()[-1] == "201", done.stdout
    [entry] = MockServerClient(server.url).requests()
    assert [(p.name, p.filename) for p in entry.multipart] == [
        ("title", None),
        ("zip", None),
        ("report", "q3.csv"),
    ]
