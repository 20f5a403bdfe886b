"""The pytest plugin used the way a user would: pytester runs of small test files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mockserver import MockServerClient

pytest_plugins = ["pytester"]

PAYMENTS = """
    service: payments
    base_path: /payments
    stubs:
      - id: create-charge
        request:
          method: POST
          path: /v1/charges
          body: {form: {currency: usd}}
        response: {status: 201, json: {id: ch_1, paid: true}}
"""

DECLINED = """
    - id: charge-declined
      priority: 1
      request: {method: POST, path: /payments/v1/charges}
      response: {status: 402, json: {error: {code: card_declined}}}
"""

# what the application under test would do; prepended to every generated test file
APP = '''
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def charge(base_url, **fields):
    """POST a form to the payments API; returns (status, decoded JSON)."""
    request = urllib.request.Request(
        base_url + "/payments/v1/charges",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _DIRECT.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
'''


@pytest.fixture(autouse=True)
def _no_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    # a developer's shell may point MOCKSERVER_URL at a running sidecar, or pin a namespace
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    monkeypatch.delenv("MOCKSERVER_NAMESPACE", raising=False)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a fresh interpreter, as a user runs it: the plugin comes from its entry point."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=60)


def write_tests(pytester: pytest.Pytester, source: str, stubs: bool = True) -> None:
    if stubs:
        write(pytester.path / "stubs" / "payments.yaml", PAYMENTS)
    write(pytester.path / "test_app.py", APP + textwrap.dedent(source))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_fixture_serves_the_project_stubs_and_verifies(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_charge(mockserver):
            assert mockserver.url.startswith("http://127.0.0.1:")
            assert charge(mockserver.url, amount=2000, currency="usd") == (
                201, {"id": "ch_1", "paid": True})
            mockserver.verify(method="POST", path="/payments/v1/charges", form={"amount": "2000"})
            (entry,) = mockserver.requests(service="payments")
            assert entry.form["currency"] == ["usd"]
            assert entry.headers["Content-Type"] == "application/x-www-form-urlencoded"
        """,
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1)


def test_failed_verify_reads_like_the_test_intent(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_charge_in_dollars(mockserver):
            charge(mockserver.url, amount=2000, currency="eur")
            mockserver.verify(method="POST", path="/payments/v1/charges", form={"currency": "usd"})
        """,
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *VerificationError: expected exactly 1 request matching "
            'POST /payments/v1/charges {"body": {"form": {"currency": "usd"}}}, found 0',
            "E *Near misses (closest first):",
            "E *  request #1 POST /payments/v1/charges: body.form.currency: "
            "expected equals 'usd', got \"eur\"",
            "E *Received (newest 1):",
            "E *  #1 POST /payments/v1/charges -> 404 (no stub) body 'amount=2000&currency=eur'",
            "*- mockserver: unmatched requests -*",
            "#1 POST /payments/v1/charges -> 404 (no stub) body 'amount=2000&currency=eur'",
            "    near miss: stub create-charge (stubs/payments.yaml:4): body.form.currency: "
            "expected equals 'usd', got \"eur\"",
        ]
    )


def test_the_report_shows_only_the_failing_tests_own_requests(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_first_passes(mockserver):
            charge(mockserver.url, currency="gbp")

        def test_second_fails(mockserver):
            charge(mockserver.url, currency="chf")
            assert False, "the app misbehaved"
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*- mockserver: unmatched requests -*", "*currency=chf*"])
    result.stdout.no_fnmatch_line("*currency=gbp*")


def test_no_report_section_without_unmatched_requests(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_fails_for_another_reason(mockserver):
            assert charge(mockserver.url, currency="usd")[0] == 200
        """,
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*mockserver: unmatched requests*")


def test_each_test_starts_clean(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_adds_a_stub_and_calls(mockserver):
            mockserver.add_stub(
                id="refund", request={"path": "/payments/v1/refunds"}, response={"json": {}})
            charge(mockserver.url, currency="usd")
            mockserver.verify(path="/payments/v1/charges")
            mockserver.clock.freeze("2026-01-01T00:00:00Z")

        def test_sees_neither_the_stub_nor_the_requests(mockserver):
            assert mockserver.requests() == []
            assert mockserver.clock.get().mode == "real"
            assert [stub["id"] for stub in mockserver.stubs()] == ["create-charge"]
            charge(mockserver.url, currency="usd")
            mockserver.verify(path="/payments/v1/charges", count=1)
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_stub_files_marker_loads_extra_stubs_for_one_test(pytester: pytest.Pytester) -> None:
    write(pytester.path / "tests" / "stubs" / "payments_declined.yaml", DECLINED)
    write_tests(
        pytester,
        """
        @pytest.mark.mockserver_stub_files("tests/stubs/payments_declined.yaml")
        def test_declined_card(mockserver):
            status, body = charge(mockserver.url, currency="usd")
            assert (status, body["error"]["code"]) == (402, "card_declined")
            mockserver.verify(path="/payments/v1/charges")

        def test_the_default_stubs_again(mockserver):
            assert charge(mockserver.url, currency="usd")[0] == 201
        """,
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2)


def test_stub_files_marker_resolves_next_to_the_test_file(pytester: pytest.Pytester) -> None:
    write(pytester.path / "declined.yaml", DECLINED)
    write_tests(
        pytester,
        """
        pytestmark = pytest.mark.mockserver_stub_files("declined.yaml")

        def test_declined_card(mockserver):
            assert charge(mockserver.url, currency="usd")[0] == 402
        """,
    )
    run(pytester).assert_outcomes(passed=1)


def test_stub_files_marker_names_a_missing_file(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.mockserver_stub_files("tests/stubs/nowhere.yaml")
        def test_declined_card(mockserver):
            pass
        """,
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*mockserver_stub_files: stub file tests/stubs/nowhere.yaml not found (tried *)"]
    )


def test_stubs_directory_from_the_option_or_the_ini(pytester: pytest.Pytester) -> None:
    write(pytester.path / "mocks" / "payments.yaml", PAYMENTS)
    write_tests(
        pytester,
        """
        def test_charge(mockserver):
            assert charge(mockserver.url, currency="usd")[0] == 201
        """,
        stubs=False,
    )
    run(pytester, "--mockserver-stubs", "mocks").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nmockserver_stubs = mocks\n")
    run(pytester).assert_outcomes(passed=1)


def test_without_a_stubs_directory_the_server_starts_empty(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_api_stubs_only(mockserver):
            assert mockserver.stubs() == []
            assert charge(mockserver.url, currency="usd")[0] == 404
        """,
        stubs=False,
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_broken_stub_file_fails_with_its_location(pytester: pytest.Pytester) -> None:
    write(pytester.path / "stubs" / "broken.yaml", "- id: x\n  request: {pth: /x}\n")
    write_tests(
        pytester,
        """
        def test_charge(mockserver):
            pass
        """,
        stubs=False,
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*mockserver could not start:*", "*broken.yaml:2*pth*"])


def test_each_xdist_worker_gets_its_own_server(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        import os
        from pathlib import Path

        @pytest.mark.parametrize("n", range(8))
        def test_isolated(mockserver, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with (Path(__file__).parent / f"seen-{worker}-{n}").open("w") as seen:
                seen.write(mockserver.server_url)
            charge(mockserver.url, currency="usd", n=n)
            mockserver.verify(path="/payments/v1/charges", count=1)
            assert len(mockserver.requests()) == 1
        """,
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
    urls: dict[str, set[str]] = {}
    for seen in pytester.path.glob("seen-*"):
        urls.setdefault(seen.name.split("-")[1], set()).add(seen.read_text())
    assert sorted(urls) == ["gw0", "gw1"]
    assert all(len(worker_urls) == 1 for worker_urls in urls.values())
    assert urls["gw0"] != urls["gw1"]


StartSidecar = Callable[[Path], str]


@pytest.fixture
def start_sidecar(tmp_path: Path) -> Iterator[StartSidecar]:
    """start_sidecar(stub_dir) -> the URL of `mockserver serve` in a subprocess, as in CI."""
    processes: list[subprocess.Popen[str]] = []

    def start(stubs: Path) -> str:
        log = tmp_path / f"sidecar-{len(processes)}.log"
        with log.open("w") as log_file:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("mockserver")), "serve", "--stubs",
                 str(stubs), "--host", "127.0.0.1", "--port", "0"],
                stdout=subprocess.PIPE,  # it prints its address there; logs go to stderr
                stderr=log_file,
                text=True,
            )  # fmt: skip
        processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:  # ends when the server prints its address or exits
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                MockServerClient(found.group(1)).wait_until_ready(timeout=10)
                return found.group(1)
        pytest.fail(f"the sidecar did not start:\n{log.read_text()}")

    yield start
    for process in processes:
        process.terminate()
        process.communicate(timeout=10)


@pytest.fixture
def sidecar(start_sidecar: StartSidecar, tmp_path: Path) -> str:
    return start_sidecar(write(tmp_path / "sidecar-stubs" / "payments.yaml", PAYMENTS).parent)


def test_sidecar_from_mockserver_url(
    pytester: pytest.Pytester, sidecar: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKSERVER_URL", sidecar)
    client = MockServerClient(sidecar)
    client.add_stub(id="left-over", request={"path": "/old"})  # an earlier run's debris
    write_tests(
        pytester,
        f"""
        def test_uses_the_sidecar(mockserver):
            assert mockserver.server_url == {sidecar!r}
            assert mockserver.url == {sidecar!r} + "/~" + mockserver.namespace
            assert [stub["id"] for stub in mockserver.stubs()] == ["create-charge"]
            mockserver.add_stub(id="refund", request={{"path": "/payments/v1/refunds"}})
            assert charge(mockserver.url, currency="usd")[0] == 201
            mockserver.verify(method="POST", path="/payments/v1/charges")

        def test_fails_on_the_sidecar(mockserver):
            charge(mockserver.url, currency="eur")
            mockserver.verify(path="/payments/v1/charges", form={{"currency": "usd"}})
        """,
        stubs=False,  # the sidecar has its own; the in-process server must not start
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*- mockserver: unmatched requests -*", "*near miss: stub create-charge*"]
    )
    # each test worked in its own namespace: the passing test's is gone, the failing test's is
    # kept (with its one unmatched request) for the sidecar's journal dump
    assert client.requests() == []
    assert [stub["id"] for stub in client.stubs()] == ["create-charge"]
    with urllib.request.urlopen(f"{sidecar}/__admin/namespaces", timeout=10) as response:
        (kept,) = json.loads(response.read())["namespaces"]
    assert kept["requests"] == 1


def test_xdist_workers_share_one_sidecar_without_seeing_each_other(
    pytester: pytest.Pytester, sidecar: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same stub ids, same paths, conflicting scenario states, exact counts: on one server."""
    monkeypatch.setenv("MOCKSERVER_URL", sidecar)
    write_tests(
        pytester,
        """
        import json
        import urllib.request

        @pytest.mark.parametrize("n", range(8))
        def test_would_collide_without_namespaces(mockserver, n):
            mockserver.add_stub(
                id="same-id",
                priority=1,
                scenario={"name": "flow", "state": "started", "set_state": f"done-{n}"},
                request={"path": "/same"},
                response={"json": {"n": n}},
            )
            mockserver.add_stub(id="again", request={"path": "/same"}, response={"json": {"n": n}})
            for _ in range(n + 1):
                with urllib.request.urlopen(mockserver.url + "/same") as response:
                    assert json.loads(response.read()) == {"n": n}
            mockserver.verify(path="/same", count=n + 1)
            assert [entry.path for entry in mockserver.requests()] == ["/same"] * (n + 1)
            assert mockserver.scenarios() == {"flow": f"done-{n}"}
        """,
        stubs=False,
    )
    run(pytester, "-n", "4").assert_outcomes(passed=8)
    with urllib.request.urlopen(f"{sidecar}/__admin/namespaces", timeout=10) as response:
        assert json.loads(response.read())["namespaces"] == []


# --- a pinned namespace: an application under test with fixed base URLs ---------------------

ONCE = """
    - id: once
      times: 1
      request: {path: /once}
      response: {json: {first: true}}
    - id: flow
      scenario: {name: flow, set_state: done}
      request: {path: /flow}
"""


def test_a_pinned_namespace_is_every_tests_reset_before_each_and_kept(
    pytester: pytest.Pytester,
    start_sidecar: StartSidecar,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubs = write(tmp_path / "sidecar-stubs" / "payments.yaml", PAYMENTS).parent
    write(stubs / "once.yaml", ONCE)
    sidecar = start_sidecar(stubs)
    app_url = f"{sidecar}/~app"  # the application's base URL, fixed when it started
    # what an earlier run left in the namespace: a stub, a request, a spent `times`, a state,
    # a frozen clock
    earlier = MockServerClient(sidecar, namespace="app")
    earlier.add_stub(id="left-over", request={"path": "/old"})
    earlier.set_scenario("flow", "done")
    earlier.clock.freeze("2026-01-01T00:00:00Z")
    urllib.request.urlopen(f"{app_url}/once", timeout=10).close()
    monkeypatch.setenv("MOCKSERVER_URL", sidecar)
    monkeypatch.setenv("MOCKSERVER_NAMESPACE", "app")
    write_tests(
        pytester,
        f"""
        APP_URL = {app_url!r}

        def starts_clean(mockserver):
            assert (mockserver.namespace, mockserver.url) == ("app", APP_URL)
            assert mockserver.requests() == []
            assert sorted(stub["id"] for stub in mockserver.stubs()) == [
                "create-charge", "flow", "once"]
            assert mockserver.scenarios() == {{"flow": "started"}}
            assert mockserver.clock.get().mode == "real"
            with urllib.request.urlopen(APP_URL + "/once", timeout=10) as response:
                assert json.loads(response.read()) == {{"first": True}}  # `times` restored

        def test_first(mockserver):
            starts_clean(mockserver)
            mockserver.add_stub(id="refund", request={{"path": "/payments/v1/refunds"}})
            mockserver.set_scenario("flow", "first")
            mockserver.clock.offset(3_600_000)
            assert charge(APP_URL, currency="usd")[0] == 201
            mockserver.verify(path="/payments/v1/charges")

        def test_second(mockserver):
            starts_clean(mockserver)
            assert charge(APP_URL, currency="eur")[0] == 404
            mockserver.verify(path="/payments/v1/charges", count=1)
        """,
        stubs=False,
    )
    run(pytester).assert_outcomes(passed=2)
    # never removed: the namespace holds the last test's requests (for a --journal-dump)
    with urllib.request.urlopen(f"{sidecar}/__admin/namespaces", timeout=10) as response:
        (kept,) = json.loads(response.read())["namespaces"]
    assert (kept["name"], kept["requests"]) == ("app", 2)


def test_the_ini_option_pins_a_namespace_and_the_variable_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nmockserver_namespace = from-ini\n")
    write_tests(
        pytester,
        """
        import os

        @pytest.mark.parametrize("n", range(2))
        def test_pinned(mockserver, n):
            assert mockserver.namespace == os.environ["EXPECTED_NAMESPACE"]
            assert mockserver.url.endswith("/~" + mockserver.namespace)
            assert mockserver.requests() == []  # the other test's request is gone
            assert charge(mockserver.url, currency="usd")[0] == 201
        """,
    )
    monkeypatch.setenv("EXPECTED_NAMESPACE", "from-ini")
    run(pytester).assert_outcomes(passed=2)
    monkeypatch.setenv("MOCKSERVER_NAMESPACE", "from-env")
    monkeypatch.setenv("EXPECTED_NAMESPACE", "from-env")
    run(pytester).assert_outcomes(passed=2)


def test_a_pinned_namespace_refuses_parallel_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKSERVER_NAMESPACE", "app")
    write_tests(
        pytester,
        """
        def test_pinned(mockserver):
            assert mockserver.namespace == "app"
        """,
    )
    refused = run(pytester, "-n", "2")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        ["ERROR: mockserver: every test uses the namespace 'app' (MOCKSERVER_NAMESPACE)*"]
    )
    assert "cannot run in parallel, but 2 xdist workers were asked for" in refused.stderr.str()
    assert "3 xdist workers" in run(pytester, "--dist", "load", "--tx", "3*popen").stderr.str()
    run(pytester, "-n", "1").assert_outcomes(passed=1)  # one worker: serial, allowed
    run(pytester).assert_outcomes(passed=1)


def test_a_pinned_namespace_must_be_a_valid_name(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKSERVER_NAMESPACE", "orders/app")
    write_tests(pytester, "def test_never_runs(mockserver):\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: mockserver: MOCKSERVER_NAMESPACE: a namespace is 1-64 of *'orders/app'"]
    )


def write_docs_example(directory: Path) -> None:
    """Every code block of docs/pytest.md that opens with `# path` is a file of the example."""
    docs = Path(__file__).parent.parent / "docs" / "pytest.md"
    blocks = re.findall(r"```(?:python|yaml)\n(# (\S+)\n.*?)```", docs.read_text(), re.S)
    assert len(blocks) == 4
    for text, name in blocks:
        write(directory / name, text)


def test_the_docs_example_passes_in_process_and_against_a_sidecar(
    pytester: pytest.Pytester, start_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("httpx", reason="the docs' example application uses httpx")
    write_docs_example(pytester.path)
    run(pytester).assert_outcomes(passed=4)
    monkeypatch.setenv("MOCKSERVER_URL", start_sidecar(pytester.path / "stubs"))
    run(pytester).assert_outcomes(passed=4)
