"""mockserver.testing.MockServerContainer, against a real container engine.

They need a Docker API with the image in it: `bash .ci/container` builds the image with podman
and runs these tests through podman's Docker-compatible socket (`podman system service`), with
DOCKER_HOST pointing at it and testcontainers' reaper disabled; .ci/run runs the whole suite that
way. With Docker: `docker build -t mockserver:latest . && pytest tests/test_testing.py`.
Outside CI they skip, saying so, where the engine, the image or the extra is missing.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import tempfile
import textwrap
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServerClient

IN_CI = os.environ.get("CI", "").lower() == "true"
IMAGE = os.environ.get("MOCKSERVER_TEST_IMAGE", "mockserver:latest")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message}: CI runs these tests through .ci/container", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def engine() -> None:
    """A Docker API holding the image, or a skip (a failure in CI) that says what is missing."""
    try:
        import docker
        import testcontainers  # noqa: F401
    except ImportError:
        _missing("testcontainers is not installed (pip install -e '.[testcontainers]')")
    socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    how = "run `bash .ci/container` (podman), or start Docker and `docker build -t mockserver .`"
    if socket.startswith("unix://") and not Path(socket.removeprefix("unix://")).exists():
        _missing(f"no container engine at {socket}: {how}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # docker leaks a failed connection
        try:
            client = docker.from_env()
        except docker.errors.DockerException as error:
            gc.collect()
            _missing(f"no container engine answers at {socket} ({error}): {how}")
    with contextlib.closing(client):
        try:
            client.images.get(IMAGE)
        except docker.errors.ImageNotFound:
            _missing(f"the engine has no image {IMAGE}: docker build -t {IMAGE} .")


@pytest.fixture
def stub_dir() -> Iterator[Path]:
    """A stub directory the image's unprivileged user can read (pytest's tmp_path is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="mockserver-stubs-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    path.chmod(0o644)


def get(url: str) -> tuple[int, Any]:
    try:
        with _DIRECT.open(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


pytestmark = [pytest.mark.usefixtures("engine"), pytest.mark.timeout(120)]


def test_the_image_starts_answers_and_is_removed() -> None:
    from mockserver.testing import MockServerContainer

    container = MockServerContainer(IMAGE)
    with container as mock:
        assert mock.url.startswith("http://")
        client = mock.client()
        assert isinstance(client, MockServerClient)
        health = client.health()  # start() returned: it is ready, no wait needed
        assert (health["status"], health["stubs"] > 0) == ("ok", True)  # the image's stubs
        status, repo = get(f"{mock.url}/github/repos/acme/orders")
        assert (status, repo["full_name"]) == (200, "acme/orders")
        client.verify(method="GET", path="/github/repos/acme/orders")
        container_id = mock.get_container_id()
    import docker

    with contextlib.closing(docker.from_env()) as engine, pytest.raises(docker.errors.NotFound):
        engine.containers.get(container_id)


def test_a_stub_directory_and_environment(stub_dir: Path) -> None:
    from mockserver.testing import MockServerContainer

    write(
        stub_dir,
        "payments.yaml",
        """
        service: payments
        base_path: /payments
        stubs:
          - id: create-charge
            request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
            response: {status: 201, json: {id: ch_1}}
        """,
    )
    with MockServerContainer(
        IMAGE, stubs=stub_dir, admin_prefix="/_ops", env={"MOCKSERVER_ACCESS_LOG": "1"}
    ) as mock:
        client = mock.client(namespace="checkout")
        assert [stub["id"] for stub in client.stubs()] == ["create-charge"]  # the image's are gone
        request = urllib.request.Request(
            f"{client.url}/payments/v1/charges", data=b"currency=eur", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            _DIRECT.open(request, timeout=10)
        refused.value.close()
        assert refused.value.code == 404
        (unmatched,) = client.unmatched()
        (miss,) = unmatched.near_misses
        assert (miss.stub_id, miss.field, miss.actual) == (
            "create-charge",
            "body.form.currency",
            "eur",
        )
        assert get(f"{mock.url}/__admin/health")[0] == 404  # the admin API moved to /_ops
        assert get(f"{mock.url}/_ops/health")[0] == 200
        out, err = mock.get_logs()
        assert "/payments/v1/charges" in (out + err).decode(), "MOCKSERVER_ACCESS_LOG=1 logs it"


def test_a_container_that_cannot_start_reports_its_log(stub_dir: Path) -> None:
    from mockserver.testing import MockServerContainer, MockServerContainerError

    write(stub_dir, "broken.yaml", "- request: {method: GET, pth: /typo}\n")
    with pytest.raises(MockServerContainerError, match=r"exited with 1") as failed:
        MockServerContainer(IMAGE, stubs=stub_dir, ready_timeout=60).start()
    assert "broken.yaml:1" in str(failed.value), failed.value
    assert "pth" in str(failed.value)


def test_a_missing_stub_directory_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from mockserver.testing import MockServerContainer

    with pytest.raises(ValueError, match="does not exist"):
        MockServerContainer(IMAGE, stubs=tmp_path / "nowhere")
