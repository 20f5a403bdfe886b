"""stubs/openai.yaml through the official `openai` SDK."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mockserver import MockServerClient
from tests.sdk.conftest import answered

MESSAGES = [
    {"role": "system", "content": "You summarise orders in one sentence."},
    {"role": "user", "content": "Order 42: 2 items, 20.00 USD, paid."},
]
VECTOR = [0.125, -0.25, 0.5, 0.0625, -0.375, 0.75, -0.875, 0.1875]


def client(mockserver: MockServerClient, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", base_url=f"{mockserver.url}/openai/v1", max_retries=max_retries
    )


@pytest.mark.pack_stubs("openai-chat-completion")
def test_a_chat_completion(mockserver: MockServerClient) -> None:
    completion = client(mockserver).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0
    )

    assert isinstance(completion, ChatCompletion)
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "Hello from mockserver."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 16
    assert answered(mockserver) == ["openai-chat-completion"]
    mockserver.verify(
        method="POST",
        path="/openai/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0},
        headers={"Authorization": "Bearer sk-test"},
    )


@pytest.mark.pack_stubs("openai-chat-completion-stream")
def test_a_streamed_chat_completion(mockserver: MockServerClient) -> None:
    stream = client(mockserver).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    chunks = list(stream)

    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "Order paid in full; receipt stored."
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "stop"
    assert answered(mockserver) == ["openai-chat-completion-stream"]
    (sent,) = mockserver.requests()
    assert sent.json["stream"] is True


@pytest.mark.pack_stubs("openai-chat-completion-stream")
def test_the_stream_is_framed_as_the_real_api_frames_it(mockserver: MockServerClient) -> None:
    request = urllib.request.Request(
        f"{mockserver.url}/openai/v1/chat/completions",
        data=json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}).encode(),
        headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        content_type = response.headers["Content-Type"]
        raw = response.read().decode()

    assert content_type == "text/event-stream; charset=utf-8"
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]  # the stream ends after [DONE] and a blank line
    for event in events[:-2]:
        assert event.startswith("data: {")
        assert "\n" not in event  # one line of compact JSON per event
        assert json.loads(event.removeprefix("data: "))["object"] == "chat.completion.chunk"
    assert answered(mockserver) == ["openai-chat-completion-stream"]


@pytest.mark.pack_stubs("openai-chat-completion-stream-usage")
def test_a_streamed_chat_completion_with_usage(mockserver: MockServerClient) -> None:
    stream = client(mockserver).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Order paid in full; receipt stored."
    assert all(chunk.usage is None for chunk in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.total_tokens) == (24, 32)
    assert answered(mockserver) == ["openai-chat-completion-stream-usage"]


@pytest.mark.pack_stubs("openai-embeddings-base64")
def test_embeddings_in_the_sdks_default_base64_encoding(mockserver: MockServerClient) -> None:
    response = client(mockserver).embeddings.create(
        model="text-embedding-3-small", input="Order 42"
    )

    assert isinstance(response, CreateEmbeddingResponse)
    assert response.model == "text-embedding-3-small"
    assert response.data[0].embedding == VECTOR  # decoded by the SDK from base64 float32
    assert answered(mockserver) == ["openai-embeddings-base64"]
    (sent,) = mockserver.requests()
    assert sent.json["encoding_format"] == "base64"


@pytest.mark.pack_stubs("openai-embeddings")
def test_embeddings_as_floats(mockserver: MockServerClient) -> None:
    response = client(mockserver).embeddings.create(
        model="text-embedding-3-small", input="Order 42", encoding_format="float"
    )

    assert response.data[0].embedding == VECTOR
    assert response.usage.total_tokens == 5
    assert answered(mockserver) == ["openai-embeddings"]


@pytest.mark.pack_stubs("openai-chat-completion-rate-limited")
def test_a_429_raises_rate_limit_error_with_retry_after(mockserver: MockServerClient) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        client(mockserver, max_retries=0).chat.completions.create(
            model="gpt-4o-mini-rate-limited", messages=MESSAGES
        )

    error = raised.value
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "1"
    assert error.request_id == "req_mock_rate_limited"
    assert answered(mockserver) == ["openai-chat-completion-rate-limited"]


@pytest.mark.pack_stubs("openai-chat-completion-rate-limited")
def test_the_sdk_retries_a_429_after_retry_after_and_succeeds(
    mockserver: MockServerClient,
) -> None:
    completion = client(mockserver, max_retries=2).chat.completions.create(
        model="gpt-4o-mini-rate-limited", messages=MESSAGES
    )

    assert completion.choices[0].message.content == "Worth the wait."
    entries = mockserver.requests()
    assert [entry.status for entry in entries] == [429, 200]
    assert [entry.headers["x-stainless-retry-count"] for entry in entries] == ["0", "1"]
    assert answered(mockserver) == ["openai-chat-completion-rate-limited"] * 2
