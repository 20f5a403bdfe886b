"""examples/replicas/compose.yaml: three replicas sharing one Redis behind nginx. The file is
checked by `podman-compose config` (installed by .ci/container, where the suite runs in CI), and
nginx.conf must name every replica of it. Running the stack needs images this machine cannot
pull; tests/test_replicas.py runs replicas on one Redis as processes instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "replicas"
IN_CI = os.environ.get("CI") == "true"
REPLICAS = ("mock-1", "mock-2", "mock-3")


def compose_config() -> dict[str, Any]:
    binary = shutil.which("podman-compose")
    if binary is None:
        reason = "podman-compose not installed (pip install 'podman-compose>=1.6')"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true, so a missing tool is a failure")
        pytest.skip(reason)
    done = subprocess.run(
        [binary, "-f", str(EXAMPLE / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_the_compose_example_runs_three_replicas_on_one_redis_behind_one_address() -> None:
    services = compose_config()["services"]
    assert set(services) == {"redis", "front", *REPLICAS}
    for name in REPLICAS:
        replica = services[name]
        assert replica["environment"]["MOCKSERVER_STATE"] == "redis://redis:6379/0"
        assert replica["healthcheck"]["test"][-1] == "mockserver.healthcheck"
        assert "redis" in replica["depends_on"]
    assert set(services["front"]["depends_on"]) == set(REPLICAS)
    assert services["front"]["ports"] == ["8080:8080"]


def test_nginx_sends_to_every_replica_of_the_compose_file() -> None:
    config = (EXAMPLE / "nginx.conf").read_text()
    upstream = re.search(r"upstream mockserver \{(.*?)\}", config, re.S)
    assert upstream is not None
    servers = re.findall(r"server ([\w-]+):8080", upstream.group(1))
    compose = yaml.safe_load((EXAMPLE / "compose.yaml").read_text())
    replicas = [name for name in compose["services"] if name.startswith("mock-")]
    assert servers == replicas == list(REPLICAS)
    assert "proxy_pass http://mockserver;" in config


def test_the_example_image_adds_the_redis_extra_to_the_repository_image() -> None:
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    assert "FROM mockserver:latest" in dockerfile
    assert "'redis>=6.0' 'hiredis>=3.0'" in dockerfile
    pyproject = (EXAMPLE.parent.parent / "pyproject.toml").read_text()
    assert 'redis = ["redis>=6.0", "hiredis>=3.0"]' in pyproject  # the extra it stands for
