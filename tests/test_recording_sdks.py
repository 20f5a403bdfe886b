"""Record through official SDKs against real upstreams on loopback, then replay without them:
S3 (moto's server) through boto3, and OpenAI-style server-sent events (a second mockserver
serving stubs/openai.yaml) through the `openai` SDK with `stream=True`."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mockserver import MockServerClient
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread

PACKS = Path(__file__).parents[1] / "stubs"


def require(module: str, install: str) -> ModuleType:
    """The module, or a skip naming how to install it (a failure under CI=true)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"needs {module}: pip install '{install}'")


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []
    yield started
    for server in reversed(started):
        server.stop()


def serve(servers: list[RunningServer], **options: Any) -> RunningServer:
    server = start_in_thread(Settings(port=0, **options))
    servers.append(server)
    return server


# --- S3 through boto3, moto's server as the upstream ------------------------------------------


def s3_results(endpoint: str) -> dict[str, Any]:
    boto3 = require("boto3", "boto3")
    config = importlib.import_module("botocore.config").Config(
        s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=config,
    )
    body = bytes(range(256)) * 3
    s3.create_bucket(Bucket="receipts")
    put = s3.put_object(
        Bucket="receipts", Key="orders/42.bin", Body=body, ContentType="application/octet-stream"
    )
    got = s3.get_object(Bucket="receipts", Key="orders/42.bin")
    head = s3.head_object(Bucket="receipts", Key="orders/42.bin")
    listed = s3.list_objects_v2(Bucket="receipts", Prefix="orders/")
    return {
        "put_etag": put["ETag"],
        "body": got["Body"].read(),
        "get": (got["ETag"], got["ContentLength"], got["ContentType"], got["LastModified"]),
        "head": (head["ETag"], head["ContentLength"], head["LastModified"]),
        "listed": [(item["Key"], item["Size"], item["ETag"]) for item in listed["Contents"]],
    }


def test_s3_recorded_through_boto3_replays_without_moto(
    tmp_path: Path, servers: list[RunningServer]
) -> None:
    moto_server = require("moto.server", "moto[server]>=5.0")
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        stubs = tmp_path / "stubs"
        stubs.mkdir()
        recorder = serve(
            servers,
            stubs=(stubs,),
            record=(("s3", f"http://{host}:{port}"),),
            record_dir=stubs / "recorded",
        )
        recorded = s3_results(f"{recorder.url}/s3")
    finally:
        moto.stop()
    assert recorded["body"] == bytes(range(256)) * 3
    assert recorded["listed"] == [("orders/42.bin", 768, recorded["put_etag"])]
    text = (stubs / "recorded" / "s3.yaml").read_text()
    assert "AKIAIOSFODNN7EXAMPLE" not in text  # the SigV4 credential went with Authorization
    document = yaml.safe_load(text)
    ids = [stub["id"] for stub in document["stubs"]]
    assert ids == [
        "s3-put-receipts",
        "s3-put-receipts-orders-42.bin",
        "s3-get-receipts-orders-42.bin",
        "s3-head-receipts-orders-42.bin",
        "s3-get-receipts",
    ]
    binary = document["stubs"][2]["response"]["body_file"]
    assert (stubs / "recorded" / binary).read_bytes() == recorded["body"]

    replayer = serve(
        servers,
        stubs=(stubs,),
        record=(("s3", f"http://{host}:{port}"),),  # moto is gone: `none` never calls it
        record_mode="none",
    )
    assert s3_results(f"{replayer.url}/s3") == recorded
    journal = MockServerClient(replayer.url).requests()
    assert [entry.stub_id for entry in journal] == ids


# --- OpenAI-style server-sent events through the openai SDK -----------------------------------

MESSAGES = [{"role": "user", "content": "Order 42: 2 items, 20.00 USD, paid."}]


def streamed_text(base_url: str) -> str:
    openai = require("openai", "openai")
    client = openai.OpenAI(api_key="sk-test-recording", base_url=base_url, max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def wait_for_recording(client: MockServerClient, written: Path, within: float = 10.0) -> None:
    """Until the server lists a recording and has written it to `written` (the file follows
    the recording, which replicas share, and is written from it)."""
    deadline = time.monotonic() + within
    while not (client.recordings() and written.is_file()):
        assert time.monotonic() < deadline, "nothing was recorded"
        time.sleep(0.02)


def slow_stream_stub() -> dict[str, Any]:
    """The pack's streamed completion, its events 30 ms apart."""
    pack = yaml.safe_load((PACKS / "openai.yaml").read_text())
    (stub,) = [stub for stub in pack["stubs"] if stub["id"] == "openai-chat-completion-stream"]
    stub["response"]["sse"]["interval_ms"] = 30
    return {
        "service": "openai",
        "base_path": "/openai",
        "stubs": [{**stub, "id": "slow-stream", "priority": 3}],
    }


def test_an_openai_stream_recorded_through_the_sdk_replays_the_same_text(
    tmp_path: Path, servers: list[RunningServer]
) -> None:
    upstream = serve(servers, stubs=(PACKS,))
    MockServerClient(upstream.url).add_stubs(slow_stream_stub())
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    recorder = serve(
        servers,
        stubs=(stubs,),
        record=(("openai", f"{upstream.url}/openai"),),
        record_dir=stubs / "recorded",
    )
    recorded = streamed_text(f"{recorder.url}/openai/v1")
    assert recorded == "Order paid in full; receipt stored."
    # the SDK stops reading at `data: [DONE]`, maybe before the upstream's answer has ended
    # and so before the exchange is kept: wait for it to be
    wait_for_recording(MockServerClient(recorder.url), stubs / "recorded" / "openai.yaml")
    upstream.stop()
    servers.remove(upstream)

    (stub,) = yaml.safe_load((stubs / "recorded" / "openai.yaml").read_text())["stubs"]
    assert stub["request"]["headers"] == {"Authorization": {"present": True}}
    assert stub["request"]["body"]["json"]["stream"] is True
    sse = stub["response"]["sse"]
    assert sse["events"][-1] == {"data": "[DONE]"}
    # as measured while recording (30 ms apart upstream, but a busy machine may read several
    # events at once), rounded: read from the file, never timed here
    interval = sse["interval_ms"]
    assert interval % 10 == 0

    replayer = serve(
        servers,
        stubs=(stubs,),
        record=(("openai", "http://127.0.0.1:9"),),
        record_mode="none",
    )
    assert streamed_text(f"{replayer.url}/openai/v1") == recorded
    (replayed,) = MockServerClient(replayer.url).stubs()
    assert replayed["response"]["sse"]["interval_ms"] == interval  # replayed at the file's pace
    (entry,) = MockServerClient(replayer.url).requests()
    assert entry.stub_id == "openai-post-v1-chat-completions"
