"""The pytest plugin's end-of-test checks: strict teardown and `--mockserver-unused`.

pytester runs of small test files against a real server: in-process, or a sidecar started as
`mockserver serve` in a subprocess.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.test_pytest_plugin import (  # noqa: F401 -- fixtures used here
    PAYMENTS,
    StartSidecar,
    _no_sidecar,
    run,
    start_sidecar,
    write,
    write_tests,
)

pytest_plugins = ["pytester"]

UNMATCHED_AND_MATCHED = """
    def test_sends_euros(mockserver):
        assert charge(mockserver.url, amount=2000, currency="eur")[0] == 404
        assert charge(mockserver.url, amount=1, currency="gbp")[0] == 404

    def test_sends_dollars(mockserver):
        assert charge(mockserver.url, amount=2000, currency="usd")[0] == 201
"""


def test_strict_ini_fails_a_test_with_an_unmatched_request_at_teardown(
    pytester: pytest.Pytester,
) -> None:
    write_tests(pytester, UNMATCHED_AND_MATCHED)
    pytester.makeini("[pytest]\nmockserver_strict = true\n")
    result = run(pytester)
    # the test body passed; its teardown failed, naming each request and its near misses
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_sends_euros*",
            "*mockserver_strict: 2 requests of this test matched no stub:",
            "#1 POST /payments/v1/charges -> 404 (no stub)*currency=eur*",
            "    near miss: stub create-charge (stubs/payments.yaml:4): body.form.currency: "
            "expected equals 'usd', got \"eur\"",
            "#2 POST /payments/v1/charges -> 404 (no stub)*currency=gbp*",
            "    near miss: stub create-charge (stubs/payments.yaml:4): body.form.currency: "
            "expected equals 'usd', got \"gbp\"",
        ]
    )
    assert "ERROR at teardown of test_sends_dollars" not in result.stdout.str()


def test_strict_marker_per_test_and_off_switch(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.mockserver_strict
        def test_strict(mockserver):
            charge(mockserver.url, currency="eur")

        def test_lenient(mockserver):
            charge(mockserver.url, currency="eur")

        @pytest.mark.mockserver_strict(False)
        def test_turned_off(mockserver):
            charge(mockserver.url, currency="eur")
        """,
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_strict*"])
    # with the ini set, the marker's False still turns it off
    pytester.makeini("[pytest]\nmockserver_strict = true\n")
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=3, errors=2)
    assert "ERROR at teardown of test_turned_off" not in result.stdout.str()


def test_strict_leaves_a_failed_test_to_its_report(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_fails(mockserver):
            charge(mockserver.url, currency="eur")
            mockserver.verify(path="/payments/v1/charges", form={"currency": "usd"})
        """,
    )
    pytester.makeini("[pytest]\nmockserver_strict = true\n")
    result = run(pytester)
    result.assert_outcomes(failed=1)  # no second failure at teardown: the report has them
    result.stdout.fnmatch_lines(["*- mockserver: unmatched requests -*"])


def test_strict_against_a_sidecar_keeps_the_namespace_for_the_journal_dump(
    pytester: pytest.Pytester,
    start_sidecar: StartSidecar,  # noqa: F811 -- the imported fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sidecar = start_sidecar(write(tmp_path / "sidecar-stubs" / "payments.yaml", PAYMENTS).parent)
    monkeypatch.setenv("MOCKSERVER_URL", sidecar)
    write_tests(pytester, UNMATCHED_AND_MATCHED, stubs=False)
    pytester.makeini("[pytest]\nmockserver_strict = true\n")
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(['*near miss: stub create-charge (*payments.yaml:4)*got "eur"'])
    with urllib.request.urlopen(f"{sidecar}/__admin/namespaces", timeout=10) as response:
        (kept,) = json.loads(response.read())["namespaces"]
    assert kept["requests"] == 2


STUBS = """
    service: payments
    base_path: /payments
    stubs:
      - id: create-charge
        request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
        response: {status: 201, json: {id: ch_1}}
      - id: refund
        request: {method: POST, path: /v1/refunds}
      - id: list-charges
        request: {method: GET, path: /v1/charges}
      - id: never-called
        request: {method: DELETE, path: "/v1/charges/{id}"}
"""

USES_THREE = """
    import urllib.request

    def get(url):
        with _DIRECT.open(url, timeout=10) as response:
            return response.status

    @pytest.mark.parametrize("n", range(4))
    def test_charges(mockserver, n):
        assert charge(mockserver.url, currency="usd")[0] == 201

    def test_refund(mockserver):
        request = urllib.request.Request(mockserver.url + "/payments/v1/refunds", method="POST")
        with _DIRECT.open(request, timeout=10) as response:
            assert response.status == 200
        mockserver.add_stub(id="api-only", request={"path": "/never"})  # not a file stub

    def test_without_a_namespace(mockserver):
        # straight at the server: the default namespace's hits count too
        assert get(mockserver.server_url + "/payments/v1/charges") == 200
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_unused_lists_the_file_stubs_no_test_hit(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    write(pytester.path / "stubs" / "payments.yaml", STUBS)
    write_tests(pytester, USES_THREE, stubs=False)
    result = run(pytester, "--mockserver-unused", *workers)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*= mockserver: file stubs no test hit: 1 of 4 =*", "stubs/payments.yaml:11  never-called"]
    )
    assert "api-only" not in result.stdout.str()
    if not workers:  # without the option: nothing is read, nothing printed
        plain = run(pytester)
        plain.assert_outcomes(passed=6)
        assert "no test hit" not in plain.stdout.str()


def test_unused_with_a_pinned_namespace_reads_each_tests_hits_before_the_reset(
    pytester: pytest.Pytester,
    start_sidecar: StartSidecar,  # noqa: F811 -- the imported fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sidecar = start_sidecar(write(tmp_path / "sidecar-stubs" / "payments.yaml", STUBS).parent)
    monkeypatch.setenv("MOCKSERVER_URL", sidecar)
    monkeypatch.setenv("MOCKSERVER_NAMESPACE", "app")
    write_tests(
        pytester,
        """
        import urllib.request

        def test_a_charge(mockserver):
            assert charge(mockserver.url, currency="usd")[0] == 201

        def test_a_refund(mockserver):  # the reset before it clears the first test's hits
            request = urllib.request.Request(mockserver.url + "/payments/v1/refunds", method="POST")
            with _DIRECT.open(request, timeout=10) as response:
                assert response.status == 200
        """,
        stubs=False,
    )
    result = run(pytester, "--mockserver-unused")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*file stubs no test hit: 2 of 4*"])
    out = result.stdout.str()
    assert "list-charges" in out
    assert "never-called" in out
    assert "  create-charge" not in out
    assert "  refund" not in out


def test_unused_when_no_test_used_the_fixture_or_there_are_no_file_stubs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = run(pytester, "--mockserver-unused")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no test used the mockserver fixture*"])
    pytester.makepyfile(test_fixture="def test_uses(mockserver):\n    mockserver.health()\n")
    result = run(pytester, "--mockserver-unused")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["the mock server has no file stubs"])
