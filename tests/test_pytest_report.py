"""The pytest plugin's reports: a failed test's requests in its report (terminal, -rA, JUnit
XML), and --mockserver-report's HTML file for the whole run (xdist workers' tests included)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.test_pytest_plugin import run, write_tests

pytest_plugins = ["pytester"]

TWO_TESTS = """
    def test_pays(mockserver):
        assert charge(mockserver.url, amount=5, currency="usd")[0] == 201

    def test_pays_in_euros(mockserver):
        charge(mockserver.url, amount=7, currency="usd")
        status, _ = charge(mockserver.url, amount=7, currency="eur")
        assert status == 201
"""


@pytest.fixture(autouse=True)
def _no_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    monkeypatch.delenv("MOCKSERVER_NAMESPACE", raising=False)


def embedded(html: str) -> dict[str, Any]:
    found = re.search(r'id="mockserver-data">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_a_failed_test_reports_its_requests_and_near_misses(pytester: pytest.Pytester) -> None:
    write_tests(pytester, TWO_TESTS)
    result = run(pytester, "-rA", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- mockserver: requests -*",
            "#1 POST /payments/v1/charges -> 201 (stub create-charge) body 'amount=7&currency=usd'",
            "#2 POST /payments/v1/charges -> 404 (no stub) body 'amount=7&currency=eur'",
            "*- mockserver: unmatched requests -*",
            "*near miss: stub create-charge (stubs/payments.yaml:*): body.form.currency: "
            "expected equals 'usd', got \"eur\"",
        ]
    )
    result.stdout.no_fnmatch_line("*amount=5*")  # the passing test's requests stay out
    failed = ET.parse(pytester.path / "junit.xml").find(".//testcase[@name='test_pays_in_euros']")
    assert failed is not None
    properties = {each.get("name"): each.get("value") or "" for each in failed.iter("property")}
    assert "#2 POST /payments/v1/charges -> 404" in properties["mockserver: requests"]
    assert "body.form.currency" in properties["mockserver: unmatched requests"]


def test_the_run_report_holds_every_test_with_its_outcome(pytester: pytest.Pytester) -> None:
    write_tests(pytester, TWO_TESTS)
    result = run(pytester, "--mockserver-report", "out/run.html")
    result.assert_outcomes(passed=1, failed=1)
    report = pytester.path / "out" / "run.html"
    result.stdout.fnmatch_lines([f"*mockserver report: 2 tests, 3 requests written to {report}*"])
    data = embedded(report.read_text(encoding="utf-8"))
    assert [each["label"] for each in data["namespaces"]] == [
        "test_app.py::test_pays (passed)",
        "test_app.py::test_pays_in_euros (failed)",
    ]
    failing = data["namespaces"][1]
    assert [entry["matched"] for entry in failing["entries"]] == [True, False]
    assert failing["entries"][1]["near_misses"][0]["field"] == "body.form.currency"
    assert failing["stubs"][0]["id"] == "create-charge"
    assert failing["stubs"][0]["hits"] == 1


def test_the_run_report_gathers_xdist_workers_tests(pytester: pytest.Pytester) -> None:
    write_tests(pytester, TWO_TESTS)
    result = run(pytester, "-n", "2", "--mockserver-report", "run.html")
    result.assert_outcomes(passed=1, failed=1)
    data = embedded((pytester.path / "run.html").read_text(encoding="utf-8"))
    assert sorted(each["label"] for each in data["namespaces"]) == [
        "test_app.py::test_pays (passed)",
        "test_app.py::test_pays_in_euros (failed)",
    ]
