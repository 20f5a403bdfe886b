"""docker-compose.test.yml's three services, run as processes on loopback.

There is no container engine here, nor in CI. So this test reads the compose file and does what
`docker compose up --exit-code-from tests` does, each service a process of this machine:

- `mock`: the image's command (ENTRYPOINT + CMD: `mockserver serve`) with the image's ENV and
  the service's environment, its stub mount read from the checkout;
- `app`: the program the service's command execs (`python -m orders serve`), with the service's
  environment, in the directory mounted as its working directory;
- each waited for by running its compose healthcheck until it passes;
- `tests`: the pytest the service's command execs, with its environment.

The host names `mock` and `app` become 127.0.0.1 and their ports free ones, wherever they appear
(base URLs included); container paths become the mounted directories; 0.0.0.0 becomes 127.0.0.1.
The Python here stands for each image's (it has the example's SDKs and mockserver's test
extras, which the services install). tests/test_container.py checks the file against the
Dockerfile and performs the image's own steps.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.test_container import (
    COMPOSE_FILE,
    DOCKERFILE,
    IN_CI,
    host_path,
    read_stages,
    seconds,
    service_env,
    service_exec,
)

LOOPBACK: Final = "127.0.0.1"
# the variable each listening service takes its port from (compose's `expose` is that port)
PORT_ENV: Final = {"mock": "MOCKSERVER_PORT", "app": "ORDERS_PORT"}
SDKS: Final = ("stripe", "boto3", "github", "slack_sdk", "openai")
HEALTHY_WITHIN: Final = 30.0
"""Seconds: compose allows the app minutes (it installs the SDKs first); here they are installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Stack:
    """Where the compose services are on this machine."""

    services: dict[str, Any]
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (compose, local)

    def __post_init__(self) -> None:
        for name in PORT_ENV:
            (exposed,) = self.services[name]["expose"]
            self.ports[name] = (str(exposed), free_port())

    def local(self, value: str) -> str:
        """http://mock:8080/~ns/stripe -> http://127.0.0.1:<free>/~ns/stripe."""
        for name, (exposed, port) in self.ports.items():
            value = value.replace(f"//{name}:{exposed}", f"//{LOOPBACK}:{port}")
        return value

    def environment(self, name: str, image_env: dict[str, str] | None = None) -> dict[str, str]:
        """The service's environment (over the image's ENV) as it must be on this machine."""
        service = self.services[name]
        env = _outside_environment()
        for variable, value in {**(image_env or {}), **service_env(service)}.items():
            if value == "0.0.0.0":
                value = LOOPBACK
            elif value.startswith("/"):
                value = str(host_path(service, value))
            env[variable] = self.local(value)
        if name in PORT_ENV:
            assert env[PORT_ENV[name]] == self.ports[name][0], f"{name} listens where it exposes"
            env[PORT_ENV[name]] = str(self.ports[name][1])
        for variable, value in service_env(service).items():
            assert not re.search(r"//(mock|app)\b", env[variable]), f"{name}: {variable}={value}"
        return env


def _outside_environment() -> dict[str, str]:
    """This process's environment, without what would configure the services behind our back."""
    prefixes = ("PYTEST_", "MOCKSERVER_", "ORDERS_")
    return {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}


def _program(argv: list[str]) -> list[str]:
    """The images' `python` and console scripts are this environment's."""
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv[0] == "pytest":
        return [sys.executable, "-m", "pytest", *argv[1:]]
    program = shutil.which(argv[0], path=str(Path(sys.executable).parent))
    assert program, f"{argv[0]} is not installed next to {sys.executable}"
    return [program, *argv[1:]]


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as `docker compose` stops a container: -> its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)  # docker's grace period before SIGKILL
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def started(
    name: str, argv: list[str], env: dict[str, str], cwd: Path, logs: Path
) -> Iterator[Service]:
    log = logs / f"{name}.log"
    with log.open("wb") as sink:  # a file, not a pipe: a chatty service never blocks on it
        process = subprocess.Popen(
            _program(argv), env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
        )
    service = Service(name, process, log)
    try:
        yield service
    finally:
        service.stop()


def wait_healthy(service: Service, healthcheck: dict[str, Any], env: dict[str, str]) -> None:
    """Run the compose healthcheck until it passes (the runner polls the services' health)."""
    test = healthcheck["test"]
    assert test[0] == "CMD", f"{service.name}: exec form, as the image has no shell to rely on"
    argv = _program(test[1:])
    deadline = time.monotonic() + HEALTHY_WITHIN
    while True:
        check = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds(healthcheck["timeout"]) + 5,
            check=False,
        )
        if check.returncode == 0:
            return
        assert time.monotonic() < deadline, (
            f"{service.name} not healthy after {HEALTHY_WITHIN} s: {check.stderr}\n"
            f"{service.output()}"
        )
        try:  # the poll interval, which ends at once if the service dies
            service.process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(
            f"{service.name} exited ({service.process.returncode}) before it was healthy:\n"
            f"{service.output()}"
        )


def _namespaces(mock_url: str) -> list[str]:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(f"{mock_url}/__admin/namespaces", timeout=10) as response:
        return [each["name"] for each in json.loads(response.read())["namespaces"]]


@pytest.fixture
def sdks() -> None:
    missing = [name for name in SDKS if importlib.util.find_spec(name) is None]
    if missing:
        message = f"the example's SDKs are missing ({', '.join(missing)})"
        if IN_CI:
            pytest.fail(message + ": they are test dependencies")
        pytest.skip(message + ": pip install -r examples/orders/requirements.txt")


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("sdks")
def test_the_three_services_run_the_example_tests_through_the_app(tmp_path: Path) -> None:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    assert sorted(services) == ["app", "mock", "tests"]
    stack = Stack(services)
    image = read_stages(DOCKERFILE.read_text())[-1]
    mock_command = image.one("ENTRYPOINT").exec_form() + image.one("CMD").exec_form()
    mock_env = stack.environment("mock", image_env=image.env())
    app, runner = services["app"], services["tests"]
    app_env = stack.environment("app")
    runner_env = stack.environment("tests")
    # with an empty stub directory an in-process mock server would fail every test, so a pass
    # proves they used the mock service (the option is ignored when MOCKSERVER_URL is set)
    empty = tmp_path / "no-stubs"
    empty.mkdir()

    with ExitStack() as stack_of_services:
        mock = stack_of_services.enter_context(
            started("mock", mock_command, mock_env, tmp_path, tmp_path)
        )
        wait_healthy(mock, services["mock"]["healthcheck"], mock_env)
        orders = stack_of_services.enter_context(
            started("app", service_exec(app), app_env, host_path(app, "."), tmp_path)
        )
        wait_healthy(orders, app["healthcheck"], app_env)

        result = subprocess.run(
            [*_program(service_exec(runner)), "--mockserver-stubs", str(empty)],
            env=runner_env,
            cwd=host_path(runner, "."),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        namespaces = _namespaces(runner_env["MOCKSERVER_URL"])
        app_code, mock_code = orders.stop(), mock.stop()

    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed, summary
    assert int(passed.group(1)) > 0
    assert not re.search(r"failed|skipped|error", summary), summary
    # the orders went through the app service...
    assert orders.output().count('"POST /orders HTTP/1.1" 201') >= 3, orders.output()
    # ...whose requests, and the tests', all landed in the one pinned namespace
    assert namespaces == [runner_env["MOCKSERVER_NAMESPACE"]]
    # both stop on SIGTERM, promptly and cleanly, as `docker compose` stops them
    assert (app_code, mock_code) == (0, 0), orders.output() + mock.output()
    assert "orders: stopped" in orders.output()
