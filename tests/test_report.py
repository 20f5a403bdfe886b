"""HTML reports: written at shutdown (--journal-dump PATH.html), by `mockserver report`, redacted,
self-contained, and opened in a real Chromium with every network request refused."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServerClient
from mockserver.redaction import REDACTED, Redaction
from mockserver.report import ReportNamespace, by_namespace, redacted_entry, render
from tests.serving import write_stubs
from tests.test_cli import Server, run

STUBS = {
    "pay.yaml": """
        service: payments
        stubs:
          - id: create-charge
            request:
              method: POST
              path: /v1/charges
              headers: {Authorization: {starts_with: "Bearer sk_test_"}}
              body: {form: {currency: usd}}
            response: {status: 201, json: {id: ch_1}}
          - id: never-called
            request: {method: DELETE, path: /v1/charges}
            response: {status: 204}
    """
}
SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def post(url: str, body: bytes, authorization: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def embedded(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="mockserver-data">(.*?)</script>', page, re.S
    )
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.fixture
def shutdown_report(tmp_path: Path) -> tuple[Path, Path, str]:
    """A server run with both dumps: one matched and one unmatched charge, a namespaced one."""
    stubs = write_stubs(tmp_path / "stubs", STUBS)
    jsonl, html = tmp_path / "out" / "journal.jsonl", tmp_path / "out" / "report.html"
    server = Server(
        "--stubs", str(stubs), "--port", "0",
        "--journal-dump", str(jsonl), "--journal-dump", str(html),
    )  # fmt: skip
    post(f"{server.url}/v1/charges", b"currency=usd", "Bearer sk_test_abcdefgh12")
    post(f"{server.url}/v1/charges", f"currency=eur&key={SECRET}".encode(), f"Bearer {SECRET}")
    post(f"{server.url}/~team-a/v1/charges", b"currency=usd", "Bearer sk_test_abcdefgh12")
    code, out, err = server.stop()
    assert code == 0, err
    return jsonl, html, out


def test_shutdown_writes_the_jsonl_dump_and_the_html_report(
    shutdown_report: tuple[Path, Path, str],
) -> None:
    jsonl, html, out = shutdown_report
    assert f"journal: 3 entries written to {jsonl}" in out
    assert f"journal: 3 entries written to {html}" in out
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [entry.get("near_misses") is not None for entry in lines] == [False, True, False]
    page = html.read_text(encoding="utf-8")
    data = embedded(page)
    assert data["mode"] == "report"
    default, team = data["namespaces"]
    assert (default["name"], team["name"]) == (None, "team-a")
    assert [entry["seq"] for entry in default["entries"]] == [1, 2]
    hits = {stub["id"]: stub["hits"] for stub in default["stubs"]}
    assert hits == {"create-charge": 1, "never-called": 0}
    miss = default["entries"][1]["near_misses"][0]
    assert (miss["stub_id"], miss["field"]) == ("create-charge", "headers.Authorization")
    assert miss["actual"] == REDACTED


def test_the_jsonl_dump_holds_no_secret_either(shutdown_report: tuple[Path, Path, str]) -> None:
    # PRODUCT.md §11: journal dumps are redacted like reports (the journal in memory is not)
    jsonl, _, _ = shutdown_report
    text = jsonl.read_text(encoding="utf-8")
    assert SECRET not in text
    assert "sk_test_abcdefgh12" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert {entry["headers"]["authorization"] for entry in lines} == {REDACTED}
    assert lines[1]["near_misses"][0]["actual"] == REDACTED


def test_redact_flags_reach_the_dump(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", STUBS)
    jsonl = tmp_path / "journal.jsonl"
    server = Server(
        "--stubs", str(stubs), "--port", "0", "--journal-dump", str(jsonl),
        "--redact-header", "X-Session", "--redact-query", "currency",
    )  # fmt: skip
    request = urllib.request.Request(
        f"{server.url}/v1/charges?currency=usd&page=2", headers={"X-Session": "s-123"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    code, _, err = server.stop()
    assert code == 0, err
    (entry,) = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert entry["headers"]["x-session"] == REDACTED
    assert entry["query"] == {"currency": [REDACTED], "page": ["2"]}


def test_the_report_holds_no_secret_and_no_external_asset(
    shutdown_report: tuple[Path, Path, str],
) -> None:
    _, html, _ = shutdown_report
    page = html.read_text(encoding="utf-8")
    assert SECRET not in page
    assert "sk_test_abcdefgh12" not in page
    entry = embedded(page)["namespaces"][0]["entries"][1]
    assert entry["headers"]["authorization"] == REDACTED
    assert entry["form"]["key"] == [REDACTED]
    assert re.search(r"<script[^>]+src=|<link[^>]+stylesheet|https?://", page) is None
    assert "connect-src" not in page  # default-src 'none' forbids every connection
    assert "default-src &#x27;none&#x27;" in page


def test_the_report_command_turns_dumps_into_one_report(
    shutdown_report: tuple[Path, Path, str], tmp_path: Path
) -> None:
    jsonl, _, _ = shutdown_report
    output = tmp_path / "made" / "r.html"
    result = run("report", str(jsonl), "-o", str(output), "--title", "nightly")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: 3 entries written to {output}"
    data = embedded(output.read_text(encoding="utf-8"))
    assert data["title"] == "nightly"
    assert [each["name"] for each in data["namespaces"]] == [None, "team-a"]
    assert data["namespaces"][0]["stubs"] is None  # a dump holds no stubs
    assert SECRET not in output.read_text(encoding="utf-8")


def test_a_bad_dump_line_is_named_by_path_and_line(tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_text('{"seq": 1, "method": "GET", "path": "/"}\n\n{"seq": oops}\n')
    result = run("report", str(dump), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 1
    assert f"{dump}:3: not JSON" in result.stderr
    missing = run("report", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "r.html"))
    assert missing.returncode == 2
    assert "journal dump not found" in missing.stderr


def test_two_dumps_of_one_kind_are_refused(tmp_path: Path) -> None:
    result = run(
        "serve", "--stubs", str(tmp_path), "--journal-dump", "a.html", "--journal-dump", "b.htm"
    )
    assert result.returncode == 2
    assert "--journal-dump names an HTML report (.html) twice (a.html, b.htm)" in result.stderr


def test_entry_text_cannot_end_the_data_block() -> None:
    entry = {"seq": 1, "method": "GET", "path": "/</script><script>alert(1)</script>"}
    page = render([ReportNamespace(None, [entry])], title="<b>t</b>")
    assert "<script>alert(1)" not in page
    assert "<title>mockserver report: &lt;b&gt;t&lt;/b&gt;</title>" in page
    assert embedded(page)["namespaces"][0]["entries"][0]["path"] == entry["path"]


@pytest.mark.parametrize(
    ("field", "actual", "shown"),
    [
        ("headers.Authorization", "Bearer x", REDACTED),
        ("headers.X-Trace", "abc", "abc"),
        ("cookies.session", "s1", REDACTED),
        ("query.X-Amz-Signature", "f00", REDACTED),
        ("body.json_path.$.card", f"token {SECRET}", f"token {REDACTED}"),
        ("method", "POST", "POST"),
        ("headers.Authorization", None, None),
    ],
    ids=[
        "auth-header",
        "plain-header",
        "cookie",
        "sigv4-query",
        "token-in-json",
        "method",
        "absent",
    ],
)
def test_near_miss_actual_values_are_redacted(field: str, actual: Any, shown: Any) -> None:
    entry = {"seq": 1, "near_misses": [{"field": field, "expected": "x", "actual": actual}]}
    assert redacted_entry(entry, Redaction.default())["near_misses"][0]["actual"] == shown


def test_entries_are_grouped_default_namespace_first() -> None:
    entries = [{"seq": 1, "namespace": "b"}, {"seq": 1}, {"seq": 1, "namespace": "a"}, {"seq": 2}]
    grouped = by_namespace(entries)
    assert [(each.name, len(each.entries)) for each in grouped] == [(None, 2), ("a", 1), ("b", 1)]


def test_a_report_opens_offline_with_the_same_views(
    shutdown_report: tuple[Path, Path, str], page: Any
) -> None:
    _, html, _ = shutdown_report
    requested: list[str] = []

    def refuse(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", refuse)
    page.goto(html.as_uri())
    page.locator("#entries tbody tr[data-seq='2']").click()
    misses = page.get_by_role("table", name="Near misses")
    cells = misses.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[0].startswith("create-charge")
    assert cells[1:] == ["headers.Authorization", "starts with 'Bearer sk_test_'", '"REDACTED"']
    assert "report: journal at shutdown" in page.locator("h1").inner_text()
    page.get_by_role("tab", name="Stubs").click()
    never = page.get_by_role("table", name="Stubs").locator("tr", has_text="never-called")
    assert never.locator("td").nth(4).inner_text() == "never hit"
    page.locator("#f-namespace").select_option("team-a")
    page.get_by_role("tab", name="Requests").click()
    page.locator("#entries tbody tr[data-seq='1']").wait_for()
    assert page.locator("#entries tbody tr").count() == 1
    assert requested == [html.as_uri()]  # the file itself, nothing else


def test_callback_attempts_are_dumped_beside_the_journal_redacted(
    tmp_path: Path, threaded_receiver: Any
) -> None:
    stubs = write_stubs(
        tmp_path / "stubs",
        {
            "s.yaml": f"""
                - request: {{method: POST, path: /v1/payment_intents/pi_1/confirm}}
                  response: {{json: {{id: pi_1}}}}
                  callbacks:
                    - url: "{threaded_receiver.url}/hooks"
                      headers: {{Authorization: "Bearer {SECRET}"}}
                      json: {{type: payment_intent.succeeded, key: "{SECRET}"}}
            """
        },
    )
    jsonl = tmp_path / "journal.jsonl"
    server = Server("--stubs", str(stubs), "--port", "0", "--journal-dump", str(jsonl))
    sent = urllib.request.Request(
        f"{server.url}/v1/payment_intents/pi_1/confirm", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(sent, timeout=10) as answer:
        assert answer.status == 200
    client = MockServerClient(server.url)
    client.wait_for_callback(url_contains="/hooks", timeout=10)
    code, _, err = server.stop()
    assert code == 0, err
    text = (tmp_path / "journal.callbacks.jsonl").read_text()
    assert SECRET not in text
    (attempt,) = [json.loads(line) for line in text.splitlines()]
    assert (attempt["namespace"], attempt["status"], attempt["outcome"]) == (None, 200, "delivered")
    assert attempt["request"]["headers"]["Authorization"] == REDACTED
    assert json.loads(attempt["request"]["body"]) == {
        "type": "payment_intent.succeeded",
        "key": REDACTED,
    }
    assert threaded_receiver.got[0].headers["Authorization"] == f"Bearer {SECRET}"  # sent whole
