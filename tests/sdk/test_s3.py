"""stubs/s3.yaml through boto3 (path-style addressing)."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mockserver import MockServerClient
from tests.sdk.conftest import answered

RECEIPT = Path(__file__).parents[2] / "stubs" / "__files" / "s3" / "receipt.pdf"


@pytest.fixture
def s3(mockserver: MockServerClient) -> Any:  # boto3 makes its client classes at run time
    return boto3.client(
        "s3",
        endpoint_url=f"{mockserver.url}/s3",
        region_name="us-east-1",
        aws_access_key_id="AKIAMOCKSERVER",
        aws_secret_access_key="mock-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


@pytest.mark.pack_stubs("s3-put-object")
def test_put_an_object_with_a_binary_body(s3: Any, mockserver: MockServerClient) -> None:
    body = bytes(range(256)) * 4  # every byte value: not text in any encoding

    response = s3.put_object(
        Bucket="receipts",
        Key="orders/42/receipt.bin",
        Body=body,
        ContentType="application/octet-stream",
    )

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(response["ETag"].strip('"')) == 32
    crc32 = zlib.crc32(body).to_bytes(4, "big")
    assert response["ChecksumCRC32"] == base64.b64encode(crc32).decode()
    assert answered(mockserver) == ["s3-put-object"]
    (sent,) = mockserver.find(method="PUT", path="/s3/receipts/orders/42/receipt.bin")
    assert sent.content == body  # the journal kept the bytes (as base64)
    assert sent.body_encoding == "base64"
    assert sent.headers["content-type"] == "application/octet-stream"


@pytest.mark.pack_stubs("s3-get-object")
def test_get_an_object_returns_the_binary_fixture(s3: Any, mockserver: MockServerClient) -> None:
    response = s3.get_object(Bucket="receipts", Key="orders/1001/receipt.pdf")

    # boto3 checks the body against the x-amz-checksum-crc32 header as it reads it
    assert response["Body"].read() == RECEIPT.read_bytes()
    assert response["ContentType"] == "application/pdf"
    assert response["ContentLength"] == RECEIPT.stat().st_size == 610
    assert response["ETag"] == '"7a586c16b0ad3f122244c88635ec69ef"'
    assert response["LastModified"].year == 2026
    assert answered(mockserver) == ["s3-get-object"]


@pytest.mark.pack_stubs("s3-get-object-missing")
def test_a_missing_key_raises_no_such_key(s3: Any, mockserver: MockServerClient) -> None:
    with pytest.raises(s3.exceptions.NoSuchKey) as raised:
        s3.get_object(Bucket="receipts", Key="orders/9999/receipt.pdf")

    error = raised.value.response["Error"]
    assert error["Code"] == "NoSuchKey"
    assert error["Key"] == "orders/9999/receipt.pdf"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert answered(mockserver) == ["s3-get-object-missing"]


@pytest.mark.pack_stubs("s3-list-objects", "s3-list-objects-page-2")
def test_list_objects_follows_the_continuation_token(s3: Any, mockserver: MockServerClient) -> None:
    first = s3.list_objects_v2(Bucket="receipts", Prefix="orders/")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="receipts", Prefix="orders/"))

    assert (first["Name"], first["Prefix"], first["KeyCount"]) == ("receipts", "orders/", 2)
    assert first["IsTruncated"] is True
    assert first["Contents"][0]["Size"] == 610
    keys = [item["Key"] for page in pages for item in page["Contents"]]
    assert keys == [
        "orders/1001/receipt.pdf",
        "orders/1002/receipt.pdf",
        "orders/1003/receipt.json",
    ]
    assert answered(mockserver) == ["s3-list-objects", "s3-list-objects", "s3-list-objects-page-2"]
    assert mockserver.requests()[-1].query["continuation-token"] == ["cGFnZS0y"]
