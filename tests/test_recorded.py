"""Pure: what a recorded exchange becomes (matchers, kept headers, bodies, ids)."""

from __future__ import annotations

import pytest

from mockserver.incoming import NOT_JSON
from mockserver.recorded import (
    RecordedStub,
    UpstreamAnswer,
    recorded_request,
    recorded_response,
    stub_id,
    with_answer,
)
from mockserver.redaction import Redaction
from mockserver.spec import RequestSpec, StubSpec

RULES = Redaction.default().adding(json_paths=["$.card.number"], query=["session"])


def matcher(spec: RequestSpec) -> dict[str, object]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


@pytest.mark.parametrize(
    ("path", "taken", "expected"),
    [
        ("/v1/chat/completions", set(), "openai-post-v1-chat-completions"),
        (
            "/v1/chat/completions",
            {"openai-post-v1-chat-completions"},
            "openai-post-v1-chat-completions-2",
        ),
        ("/", set(), "openai-post-root"),
        ("/files/a b/{x}", set(), "openai-post-files-a-b-x"),
    ],
    ids=["path", "taken", "root", "odd-characters"],
)
def test_stub_ids_come_from_method_and_path(path: str, taken: set[str], expected: str) -> None:
    assert stub_id("openai", "POST", path, taken) == expected


def test_a_json_body_is_a_subset_without_the_secrets_and_credentials_are_present() -> None:
    body = {"amount": 2000, "card": {"number": "4242", "cvc": "123"}, "key": "sk_live_abcdefgh1234"}
    recorded = recorded_request(
        "POST",
        "/v1/charges",
        {"expand": ["customer", "invoice"], "session": ["s1"], "token": ["ghp_" + "a" * 36]},
        {"authorization": "Bearer x", "x-api-key": "k", "user-agent": "sdk/1.0"},
        b"{}",
        body,
        RULES,
    )
    assert matcher(recorded.spec) == {
        "method": ["POST"],
        "path": "/v1/charges",
        "query": {
            "expand": {"all_of": [{"equals": "customer"}, {"equals": "invoice"}]},
            "session": {"present": True},
            "token": {"present": True},
        },
        "headers": {"Authorization": {"present": True}, "X-Api-Key": {"present": True}},
        "body": {"json": {"amount": 2000, "card": {"cvc": "123"}}},
    }


def test_a_form_body_is_matched_as_form_and_text_bodies_are_not_matched() -> None:
    form = recorded_request(
        "POST", "/v1/charges", {}, {"content-type": "application/x-www-form-urlencoded"},
        b"amount=2000&currency=usd", NOT_JSON, RULES,
    )  # fmt: skip
    assert matcher(form.spec)["body"] == {
        "form": {"amount": {"equals": "2000"}, "currency": {"equals": "usd"}}
    }
    xml = recorded_request(
        "PUT", "/b", {}, {"content-type": "application/xml"}, b"<a/>", NOT_JSON, RULES
    )
    assert "body" not in matcher(xml.spec)


def test_kept_headers_are_sorted_without_volatile_ones_and_secrets_redacted() -> None:
    answer = UpstreamAnswer(
        200,
        (
            ("Date", "Mon"), ("X-B", "2"), ("Content-Length", "2"), ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"), ("Content-Type", "text/plain"), ("X-Amz-Date", "now"),
            ("Connection", "keep-alive"), ("X-A", "sk_test_abcdefgh12345678"),
        ),
        b"hi",
    )  # fmt: skip
    response, files = recorded_response(answer, "GET", "svc-get-x", RULES)
    assert response.headers == {
        "Content-Type": "text/plain",
        "Set-Cookie": ["REDACTED", "REDACTED"],
        "X-A": "REDACTED",
        "X-B": "2",
    }
    assert (response.body, files) == ("hi", {})
    head, _ = recorded_response(answer, "HEAD", "svc-head-x", RULES)
    assert head.headers["Content-Length"] == "2"
    assert head.body is None


def test_a_gzip_answer_is_recorded_decoded() -> None:
    import gzip

    answer = UpstreamAnswer(
        200,
        (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
        gzip.compress(b'{"ok": true}'),
    )
    response, _ = recorded_response(answer, "GET", "x", RULES)
    assert (response.json_, response.headers) == (
        {"ok": True},
        {"Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        (((14, 0.0), (28, 0.021), (42, 0.043)), 20),
        (((42, 0.0),), 0),
        (((14, 0.0), (28, 0.036), (42, 0.071)), 40),
    ],
    ids=["20ms", "all-at-once", "rounded"],
)
def test_sse_interval_is_the_mean_gap_rounded_to_10_ms(
    arrivals: tuple[tuple[int, float], ...], expected: int
) -> None:
    body = b'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n'
    offsets = (15, 30, 44)
    timed = tuple((offsets[index], seconds) for index, (_, seconds) in enumerate(arrivals))
    answer = UpstreamAnswer(200, (("Content-Type", "text/event-stream"),), body, timed)
    response, _ = recorded_response(answer, "GET", "x", RULES)
    assert response.sse is not None
    assert [event.data for event in response.sse.events] == [{"n": 1}, {"n": 2}, "[DONE]"]
    assert response.sse.interval_ms == expected


def test_a_repeated_request_with_another_answer_makes_a_sequence() -> None:
    first, _ = recorded_response(UpstreamAnswer(200, (), b"heads"), "GET", "x", RULES)
    second, _ = recorded_response(UpstreamAnswer(200, (), b"tails"), "GET", "x", RULES)
    stub = RecordedStub(StubSpec(id="x", request=RequestSpec(), response=first))
    assert with_answer(stub, first, {}) is stub
    again = with_answer(stub, second, {})
    assert [answer.body for answer in again.spec.answers] == ["heads", "tails"]
    assert again.spec.responses is not None
    assert stub.spec.responses is None
