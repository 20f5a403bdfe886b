"""The pytest plugin's cassettes, used the way a user would (pytester runs in a fresh
interpreter): record against a real upstream (another mockserver on loopback), then replay with
the upstream gone; in-process and against a sidecar alike."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mockserver import MockServerClient
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.serving import write_stubs

pytest_plugins = ["pytester"]

UPSTREAM = """
- request: {method: GET, path: /v1/weather/oslo}
  response: {json: {city: oslo, celsius: -3}}
- request: {method: GET, path: /v1/weather/rome}
  response: {json: {city: rome, celsius: 18}}
- request: {method: GET, path: /v1/logo}
  response: {headers: {Content-Type: image/png}, body_file: __files/logo.png}
"""
LOGO = b"\x89PNG\r\n\x1a\n\xff\x00binary"

TESTS = """
import urllib.request

import pytest


def get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read()


def test_oslo(mockserver):
    assert get(mockserver.url + "/weather/v1/weather/oslo") == b'{"city":"oslo","celsius":-3}'
    assert get(mockserver.url + "/weather/v1/logo") == LOGO


@pytest.mark.mockserver_cassette("rome-weather")
def test_rome(mockserver):
    assert get(mockserver.url + "/weather/v1/weather/rome") == b'{"city":"rome","celsius":18}'
"""


@pytest.fixture(autouse=True)
def _no_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    monkeypatch.delenv("MOCKSERVER_NAMESPACE", raising=False)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[RunningServer]:
    stubs = write_stubs(tmp_path / "upstream", {"up.yaml": UPSTREAM, "__files/logo.png": LOGO})
    server = start_in_thread(Settings(stubs=(stubs,), port=0))
    yield server
    server.stop()


def project(pytester: pytest.Pytester, upstream_url: str) -> None:
    pytester.makeini(
        f"""
        [pytest]
        mockserver_record_targets = weather={upstream_url}
        """
    )
    (pytester.path / "test_weather.py").write_text(f"LOGO = {LOGO!r}\n" + textwrap.dedent(TESTS))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=100)


def cassettes(pytester: pytest.Pytester) -> Path:
    return pytester.path / "cassettes" / "test_weather"


def check_recorded(pytester: pytest.Pytester) -> None:
    oslo = yaml.safe_load((cassettes(pytester) / "test_oslo.yaml").read_text())
    assert (oslo["service"], oslo["base_path"]) == ("weather", "/weather")
    assert [stub["id"] for stub in oslo["stubs"]] == [
        "weather-get-v1-weather-oslo",
        "weather-get-v1-logo",
    ]
    logo = oslo["stubs"][1]["response"]["body_file"]
    assert (cassettes(pytester) / logo).read_bytes() == LOGO
    rome = yaml.safe_load((cassettes(pytester) / "rome-weather.yaml").read_text())
    assert [stub["id"] for stub in rome["stubs"]] == ["weather-get-v1-weather-rome"]


@pytest.mark.timeout(240)  # pytest started three times
def test_record_once_in_process_then_replay_with_the_upstream_gone(
    pytester: pytest.Pytester, upstream: RunningServer
) -> None:
    project(pytester, upstream.url)
    run(pytester, "--mockserver-record=once").assert_outcomes(passed=2)
    check_recorded(pytester)
    assert len(MockServerClient(upstream.url).requests()) == 3
    upstream.stop()
    before = (cassettes(pytester) / "test_oslo.yaml").read_bytes()
    # `once` with its cassettes there: replay only (as the default, none), nothing rewritten
    run(pytester, "--mockserver-record=once").assert_outcomes(passed=2)
    assert (cassettes(pytester) / "test_oslo.yaml").read_bytes() == before


def test_a_missing_cassette_under_none_is_the_usual_404(
    pytester: pytest.Pytester, upstream: RunningServer
) -> None:
    project(pytester, upstream.url)
    result = run(pytester)  # none: nothing recorded yet, nothing forwarded
    result.assert_outcomes(failed=2)
    assert MockServerClient(upstream.url).requests() == []
    assert not cassettes(pytester).exists()


@pytest.mark.timeout(240)
def test_against_a_sidecar_the_same_cassettes(
    pytester: pytest.Pytester,
    upstream: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project(pytester, "http://127.0.0.1:9")  # the sidecar's own targets apply
    sidecar = start_in_thread(
        Settings(
            stubs=(write_stubs(tmp_path / "sidecar", {}),),
            port=0,
            record=(("weather", upstream.url),),
            record_mode="none",
        )
    )
    try:
        monkeypatch.setenv("MOCKSERVER_URL", sidecar.url)
        run(pytester, "--mockserver-record=new_episodes").assert_outcomes(passed=2)
        check_recorded(pytester)
        upstream.stop()
        run(pytester).assert_outcomes(passed=2)
    finally:
        sidecar.stop()
