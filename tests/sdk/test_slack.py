"""stubs/slack.yaml through the official slack_sdk WebClient."""

from __future__ import annotations

import pytest
import slack_sdk
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from mockserver import MockServerClient
from tests.sdk.conftest import answered


def web_client(mockserver: MockServerClient, token: str = "xoxb-test-token") -> slack_sdk.WebClient:
    return slack_sdk.WebClient(token=token, base_url=f"{mockserver.url}/slack/api/")


@pytest.mark.pack_stubs("slack-post-message")
def test_post_a_message(mockserver: MockServerClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order 42* paid"}}]

    response = web_client(mockserver).chat_postMessage(
        channel="C0ORDERS01", text="Order 42 paid", blocks=blocks
    )

    assert isinstance(response, SlackResponse)
    assert response.status_code == 200
    assert response["ok"] is True
    assert response["channel"] == "C0ORDERS01"
    assert response["ts"] == response["message"]["ts"] == "1764000000.000001"
    assert response["message"]["text"] == "Order 42 paid"
    assert response["message"]["blocks"] == blocks
    assert answered(mockserver) == ["slack-post-message"]
    (sent,) = mockserver.requests()
    assert sent.headers["authorization"] == "Bearer xoxb-test-token"
    assert sent.json == {"channel": "C0ORDERS01", "text": "Order 42 paid", "blocks": blocks}


@pytest.mark.pack_stubs("slack-post-message-channel-not-found")
def test_an_unknown_channel_raises_slack_api_error(mockserver: MockServerClient) -> None:
    with pytest.raises(SlackApiError, match="channel_not_found") as raised:
        web_client(mockserver).chat_postMessage(channel="#does-not-exist", text="hello?")

    assert raised.value.response["ok"] is False
    assert raised.value.response["error"] == "channel_not_found"
    assert answered(mockserver) == ["slack-post-message-channel-not-found"]


@pytest.mark.pack_stubs("slack-invalid-auth")
def test_a_bad_token_raises_invalid_auth(mockserver: MockServerClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_auth"):
        web_client(mockserver, token="not-a-slack-token").chat_postMessage(
            channel="C0ORDERS01", text="hello"
        )

    assert answered(mockserver) == ["slack-invalid-auth"]


@pytest.mark.pack_stubs("slack-conversations-list", "slack-conversations-list-page-2")
def test_conversations_are_paginated_by_cursor(mockserver: MockServerClient) -> None:
    first = web_client(mockserver).conversations_list(limit=2, types="public_channel")
    # a SlackResponse iterates over its pages, following response_metadata.next_cursor
    names, cursors = [], []
    for page in first:
        names += [channel["name"] for channel in page["channels"]]
        cursors.append(page["response_metadata"]["next_cursor"])

    assert names == ["orders", "general", "alerts"]
    assert cursors == ["dGVhbTpDMEFMRVJUUzE=", ""]
    assert answered(mockserver) == ["slack-conversations-list", "slack-conversations-list-page-2"]
    second = mockserver.requests()[-1]
    assert second.form == {
        "cursor": ["dGVhbTpDMEFMRVJUUzE="],
        "limit": ["2"],
        "types": ["public_channel"],
    }
