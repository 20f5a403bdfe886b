"""Callbacks (webhooks) over real HTTP: the mock answers, then calls a receiving application on
loopback, which checks each signature with the provider's own verifier (tests/webhook_receiver.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import time
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient

from mockserver import AsyncMockServerClient
from mockserver.app import STORE_KEY, build_app, mock_runner
from mockserver.config import Settings
from mockserver.errors import StubLoadError
from mockserver.loader import load_paths
from tests.serving import ServeStubs, write_stubs
from tests.webhook_receiver import (
    GITHUB_SECRET,
    SLACK_SECRET,
    STRIPE_SECRET,
    Receiver,
)

Client = TestClient[Any, Any]


async def finished(client: Client, count: int = 1, path: str = "/__admin/callbacks") -> list[Any]:
    """The attempts once `count` of them ended their callback (polls the admin API)."""
    deadline = time.monotonic() + 10
    while True:
        attempts = (await (await client.get(path)).json())["callbacks"]
        if sum(attempt["outcome"] != "retrying" for attempt in attempts) >= count:
            return attempts
        assert time.monotonic() < deadline, f"callbacks did not finish: {attempts}"
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stub_file(url: str, callback: str) -> dict[str, str]:
    return {
        "pay.yaml": f"""
            - id: pay
              request: {{method: POST, path: "/v1/payment_intents/{{id}}/confirm"}}
              response:
                template: true
                json: {{id: "{{{{ request.path_params.id }}}}", status: succeeded, amount: 2000}}
              callbacks:
                - url: "{url}"
{callback}
        """
    }


STRIPE_CALLBACK = """
                  json:
                    id: "evt_{{ random_hex(8) }}"
                    object: event
                    type: payment_intent.succeeded
                    data:
                      object:
                        id: "{{ response.json.id }}"
                        object: payment_intent
                        amount: "{{ response.json.amount }}"
                        metadata: {order: "{{ request.json.order }}", app: "{{ env.APP_NAME }}"}
                  sign: {scheme: stripe, secret: "{{ env.STRIPE_WEBHOOK_SECRET }}"}
"""


async def test_a_stub_callback_is_templated_signed_and_accepted_by_stripe(
    serve: ServeStubs, receiver: Receiver
) -> None:
    env = (("APP_NAME", "shop"), ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET))
    client = await serve(stub_file(receiver.url + "/stripe", STRIPE_CALLBACK), env=env)
    answer = await client.post("/v1/payment_intents/pi_42/confirm", json={"order": 7})
    assert answer.status == 200
    (attempt,) = await finished(client)
    assert (attempt["status"], attempt["outcome"], attempt["attempt"]) == (200, "delivered", 1)
    assert attempt["stub_id"] == "pay"
    assert attempt["request"]["headers"]["Stripe-Signature"].startswith("t=")
    (got,) = receiver.on("/stripe")
    assert got.verified is True
    event = got.event
    assert isinstance(event, stripe.Event)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == "pi_42"
    assert event.data.object.amount == 2000  # a whole-expression template keeps the integer
    assert event.data.object.metadata.to_dict() == {"order": 7, "app": "shop"}
    assert attempt["request"]["body"] == got.body.decode()


async def test_a_wrong_stripe_secret_fails_stripes_verifier(
    serve: ServeStubs, receiver: Receiver
) -> None:
    env = (("APP_NAME", "shop"), ("STRIPE_WEBHOOK_SECRET", "whsec_wrong"))
    client = await serve(stub_file(receiver.url + "/stripe", STRIPE_CALLBACK), env=env)
    await client.post("/v1/payment_intents/pi_42/confirm", json={"order": 7})
    (attempt,) = await finished(client)
    assert (attempt["status"], attempt["outcome"]) == (400, "failed")  # a 4xx is not retried
    assert receiver.on("/stripe")[0].verified is False


@pytest.mark.parametrize(
    ("secret", "verified"), [(GITHUB_SECRET, True), ("not-it", False)], ids=["right", "wrong"]
)
async def test_github_signatures_pass_githubs_documented_check(
    serve: ServeStubs, receiver: Receiver, secret: str, verified: bool
) -> None:
    callback = f"""
                  headers: {{X-GitHub-Event: push}}
                  json: {{ref: refs/heads/main, after: "{{{{ response.json.id }}}}"}}
                  sign: {{scheme: github, secret: {secret}}}
    """
    client = await serve(stub_file(receiver.url + "/github", callback))
    await client.post("/v1/payment_intents/pi_1/confirm", json={})
    (attempt,) = await finished(client)
    (got,) = receiver.on("/github")
    assert got.verified is verified
    assert got.headers["X-GitHub-Event"] == "push"
    assert got.json == {"ref": "refs/heads/main", "after": "pi_1"}
    assert attempt["status"] == (200 if verified else 400)


@pytest.mark.parametrize(
    ("secret", "verified"), [(SLACK_SECRET, True), ("not-it", False)], ids=["right", "wrong"]
)
async def test_slack_signatures_pass_slack_sdks_verifier(
    serve: ServeStubs, receiver: Receiver, secret: str, verified: bool
) -> None:
    callback = f"""
                  json: {{type: event_callback, event: {{type: message, text: hello}}}}
                  sign: {{scheme: slack, secret: {secret}}}
    """
    client = await serve(stub_file(receiver.url + "/slack", callback))
    await client.post("/v1/payment_intents/pi_1/confirm", json={})
    await finished(client)
    assert receiver.on("/slack")[0].verified is verified


async def test_the_generic_hmac_scheme_signs_the_text_its_template_gives(
    serve: ServeStubs, receiver: Receiver
) -> None:
    callback = """
                  body: "paid {{ response.json.id }}"
                  sign:
                    scheme: hmac
                    secret: s3cret
                    header: X-Signature
                    algorithm: sha512
                    encoding: base64
                    prefix: "v1="
                    signed: "{{ timestamp }}.{{ method }}.{{ body }}"
                    timestamp_header: X-Timestamp
    """
    client = await serve(stub_file(receiver.url + "/hmac", callback))
    await client.put("/__admin/clock", json={"frozen": "2026-01-01T00:00:00Z"})
    await client.post("/v1/payment_intents/pi_9/confirm", json={})
    await finished(client)
    (got,) = receiver.on("/hmac")
    assert got.body == b"paid pi_9"
    assert got.headers["X-Timestamp"] == "1767225600"  # the namespace's frozen clock
    signed = b"1767225600.POST.paid pi_9"
    mac = hmac.new(b"s3cret", signed, hashlib.sha512).digest()
    assert got.headers["X-Signature"] == "v1=" + base64.b64encode(mac).decode()
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    wrong = hmac.new(b"other", signed, hashlib.sha512).digest()
    assert got.headers["X-Signature"] != "v1=" + base64.b64encode(wrong).decode()


async def test_5xx_and_429_are_retried_with_backoff_up_to_retries_max(
    serve: ServeStubs, receiver: Receiver
) -> None:
    receiver.status["/flaky"] = [503, 429, 500, 500, 500]
    callback = """
                  json: {n: 1}
                  retries: {max: 3, backoff_ms: 1}
    """
    client = await serve(stub_file(receiver.url + "/flaky", callback))
    await client.post("/v1/payment_intents/pi_1/confirm", json={})
    attempts = await finished(client)
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [
        (1, 503, "retrying"),
        (2, 429, "retrying"),
        (3, 500, "retrying"),
        (4, 500, "failed"),  # max: 3 retries after the first delivery
    ]
    assert len({attempt["id"] for attempt in attempts}) == 1
    assert len(receiver.on("/flaky")) == 4


async def test_a_refused_connection_is_retried_then_recorded_as_failed(
    serve: ServeStubs,
) -> None:
    callback = """
                  json: {n: 1}
                  retries: {max: 1, backoff_ms: 1}
    """
    client = await serve(stub_file(f"http://127.0.0.1:{free_port()}/hook", callback))
    answer = await client.post("/v1/payment_intents/pi_1/confirm", json={})
    assert answer.status == 200
    attempts = await finished(client)
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "retrying"), (2, "failed")]
    assert all("Connect" in attempt["error"] and "status" not in attempt for attempt in attempts)


async def test_a_hanging_application_blocks_neither_the_answer_nor_other_callbacks(
    serve: ServeStubs, receiver: Receiver
) -> None:
    receiver.hold["/slow"] = asyncio.Event()
    files = {
        "pay.yaml": f"""
            - id: pay
              request: {{path: /pay}}
              response: {{json: {{ok: true}}}}
              callbacks:
                - {{url: "{receiver.url}/slow", json: {{n: 1}}, timeout_ms: 200}}
                - {{url: "{receiver.url}/fast", json: {{n: 2}}}}
        """
    }
    client = await serve(files)
    answer = await client.get("/pay")
    assert answer.status == 200  # answered while the first callback hangs
    attempts = await finished(client, 2)
    by_url = {attempt["url"].rsplit("/", 1)[1]: attempt for attempt in attempts}
    assert by_url["fast"]["status"] == 200
    assert by_url["slow"]["error"] == "timeout: no answer within 200 ms"
    assert by_url["slow"]["outcome"] == "failed"
    assert (await client.get("/pay")).status == 200  # the server goes on


async def test_a_template_error_is_a_failed_attempt_and_the_answer_is_sent(
    serve: ServeStubs, receiver: Receiver
) -> None:
    callback = """
                  json: {n: "{{ 1 // 0 }}"}
    """
    client = await serve(stub_file(receiver.url + "/hook", callback))
    answer = await client.post("/v1/payment_intents/pi_1/confirm", json={})
    assert answer.status == 200
    (attempt,) = await finished(client)
    assert attempt["error"].startswith("template: json.n:")
    assert "ZeroDivisionError" in attempt["error"]
    assert (attempt["outcome"], attempt["request"]) == ("failed", None)
    assert receiver.got == []


async def test_a_templated_url_that_is_no_url_is_a_failed_attempt(serve: ServeStubs) -> None:
    client = await serve(stub_file("{{ env.MISSING }}/hook", "                  json: {}"))
    assert (await client.post("/v1/payment_intents/pi_1/confirm", json={})).status == 200
    (attempt,) = await finished(client)
    assert (
        attempt["error"]
        == "template: url: '/hook' is not an absolute http:// or https:// URL with a host"
    )


@pytest.mark.parametrize(
    ("callback", "line", "message"),
    [
        ("url: not a url", 5, "callbacks[0].url: 'not a url' is not an absolute http://"),
        (
            "{url: 'http://a', sign: {scheme: stripe}}",
            5,
            "callbacks[0].sign.secret: field required",
        ),
        (
            "{url: 'http://a', sign: {scheme: hmac, secret: x}}",
            5,
            "callbacks[0].sign: the hmac scheme needs `header`",
        ),
        (
            "{url: 'http://a', sign: {scheme: github, secret: x, prefix: 'p='}}",
            5,
            "prefix only apply to the hmac scheme",
        ),
        ("{url: 'http://a', retries: {max: -1}}", 5, "callbacks[0].retries.max"),
        ("{url: 'http://a', json: '{{ reqest.json }}'}", 5, "unknown name 'reqest'"),
        (
            "{url: 'http://a', delay: 5}",
            5,
            "callbacks[0].delay: unknown field 'delay'; did you mean 'delay_ms'?",
        ),
    ],
    ids=[
        "bad-url",
        "no-secret",
        "hmac-no-header",
        "hmac-field-elsewhere",
        "retries",
        "name",
        "typo",
    ],
)
def test_bad_callback_fields_fail_loading_with_file_and_line(
    tmp_path: Any, callback: str, line: int, message: str
) -> None:
    stubs = write_stubs(
        tmp_path,
        {
            "hooks.yaml": f"""
                # a comment
                - id: pay
                  request: {{path: /pay}}
                  callbacks:
                    - {callback}
            """
        },
    )
    with pytest.raises(StubLoadError) as failure:
        load_paths([stubs])
    text = str(failure.value.errors[0])
    assert text.startswith(f"{stubs / 'hooks.yaml'}:{line}: "), text
    assert message in text


def test_an_unmatched_stub_sends_no_callbacks(tmp_path: Any) -> None:
    stub = "- {unmatched: true, request: {}, callbacks: [{url: 'http://a'}]}\n"
    with pytest.raises(StubLoadError, match="an 'unmatched: true' stub shapes a miss"):
        load_paths([write_stubs(tmp_path, {"u.yaml": stub})])


async def test_send_on_demand_answers_202_and_lists_every_attempt(
    serve: ServeStubs, receiver: Receiver
) -> None:
    client = await serve()
    sent = await client.post(
        "/__admin/callbacks",
        json={
            "url": receiver.url + "/stripe",
            "json": {"id": "evt_1", "object": "event", "type": "invoice.paid"},
            "sign": {"scheme": "stripe", "secret": STRIPE_SECRET},
            "headers": {"X-Trace": "{{ env.TRACE }}"},
        },
    )
    assert sent.status == 202
    ident = (await sent.json())["id"]
    (attempt,) = await finished(client)
    assert (attempt["id"], attempt["status"], attempt["event"]) == (ident, 200, None)
    assert receiver.on("/stripe")[0].event.type == "invoice.paid"
    assert attempt["request"]["headers"]["X-Trace"] == ""


async def test_admin_callbacks_go_to_loopback_or_allowed_hosts_only(serve: ServeStubs) -> None:
    client = await serve(callback_allow=("hooks.internal:8443",))
    refused = await client.post("/__admin/callbacks", json={"url": "http://example.com/hook"})
    assert refused.status == 400
    body = await refused.json()
    assert "'example.com'" in body["error"]
    assert body["details"][0]["field"] == "url"
    wrong_port = await client.post("/__admin/callbacks", json={"url": "http://hooks.internal/x"})
    assert wrong_port.status == 400
    allowed = await client.post(
        "/__admin/callbacks", json={"url": "https://hooks.internal:8443/x", "timeout_ms": 50}
    )
    assert allowed.status == 202
    for url in ("http://localhost:1/x", "http://127.0.0.2:1/x", "http://[::1]:1/x"):
        assert (await client.post("/__admin/callbacks", json={"url": url})).status == 202, url
    stub = {
        "request": {"path": "/x"},
        "callbacks": [{"url": "http://10.0.0.1/hook"}],
    }
    added = await client.post("/__admin/stubs", json=stub)
    assert added.status == 400
    assert "'10.0.0.1'" in (await added.json())["error"]
    assert not any(
        stub["source"] == "api"
        for stub in (await (await client.get("/__admin/stubs")).json())["stubs"]
    )


async def test_an_api_stub_with_a_templated_url_is_checked_when_sent(serve: ServeStubs) -> None:
    client = await serve(env=(("APP_URL", "http://example.com"),))
    stub = {"request": {"path": "/x"}, "callbacks": [{"url": "{{ env.APP_URL }}/hook"}]}
    assert (await client.post("/__admin/stubs", json=stub)).status == 201
    assert (await client.get("/x")).status == 200
    (attempt,) = await finished(client)
    assert "'example.com'" in attempt["error"]
    assert (attempt["url"], attempt["request"]) == ("http://example.com/hook", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"json": {}}, "url"),
        ({"url": "ftp://host/x"}, "url"),
        ({"url": "http://localhost/x", "json": {}, "body": "x"}, ""),
        ({"url": "http://localhost/x", "json": "{{ request.path }}"}, "json"),
        ({"url": "http://localhost/x", "body": "{{ 1 // 0 }}"}, "body"),
        ({"event": "stripe/nope", "url": "http://localhost/x"}, "event"),
        ({"url": "http://localhost/x", "sign": {"scheme": "rsa", "secret": "x"}}, "sign.scheme"),
    ],
    ids=["no-url", "not-http", "two-bodies", "no-request", "render-error", "event", "scheme"],
)
async def test_bad_sends_are_400s_naming_the_field(
    serve: ServeStubs, body: dict[str, Any], field: str
) -> None:
    client = await serve()
    answer = await client.post("/__admin/callbacks", json=body)
    assert answer.status == 400
    refusal = await answer.json()
    assert refusal["details"][0]["field"] == field
    assert refusal["error"].startswith(f"{field}: " if field else "a callback takes json or body")
    assert (await (await client.get("/__admin/callbacks")).json())["callbacks"] == []


async def test_attempts_are_per_namespace_and_reset_clears_them(
    serve: ServeStubs, receiver: Receiver
) -> None:
    client = await serve()
    sent = await client.post("/__admin/ns/a/callbacks", json={"url": receiver.url + "/x"})
    assert sent.status == 202
    assert len(await finished(client, path="/__admin/ns/a/callbacks")) == 1
    assert (await (await client.get("/__admin/callbacks")).json())["callbacks"] == []
    assert (await (await client.get("/__admin/ns/b/callbacks")).json())["callbacks"] == []
    await client.post("/__admin/ns/a/reset")
    assert (await (await client.get("/__admin/ns/a/callbacks")).json())["callbacks"] == []


async def test_a_callback_of_a_namespaced_request_is_recorded_in_its_namespace(
    serve: ServeStubs, receiver: Receiver
) -> None:
    callback = "                  json: {path: '{{ request.path }}', ns: '{{ request.namespace }}'}"
    client = await serve(stub_file(receiver.url + "/hook", callback))
    await client.post("/~t1/v1/payment_intents/pi_1/confirm", json={})
    (attempt,) = await finished(client, path="/__admin/ns/t1/callbacks")
    assert receiver.got[0].json == {"path": "/v1/payment_intents/pi_1/confirm", "ns": "t1"}
    assert attempt["status"] == 200


async def test_delay_ms_waits_after_the_answer(serve: ServeStubs, receiver: Receiver) -> None:
    client = await serve(stub_file(receiver.url + "/late", "                  delay_ms: 30"))
    assert (await client.post("/v1/payment_intents/pi_1/confirm", json={})).status == 200
    (attempt,) = await finished(client)
    assert attempt["status"] == 200
    assert receiver.on("/late")[0].body == b""


async def test_shutdown_cuts_pending_callbacks_after_the_grace_and_records_them(
    tmp_path: Any, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold["/slow"] = asyncio.Event()
    stubs = write_stubs(
        tmp_path,
        {
            "s.yaml": f"""
                - request: {{path: /pay}}
                  callbacks:
                    - {{url: "{receiver.url}/slow", timeout_ms: 60000}}
                    - {{url: "{receiver.url}/later", delay_ms: 60000}}
            """
        },
    )
    settings = Settings(stubs=(stubs,), port=0, shutdown_grace=0.05)
    app = build_app(settings)
    runner = mock_runner(app, settings, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/pay") as got:
        assert got.status == 200
    await receiver.arrived.wait()  # the slow callback is in flight
    await runner.cleanup()
    attempts = await (await app[STORE_KEY].peek(None)).state.attempts()
    assert sorted(attempt["url"].rsplit("/", 1)[1] for attempt in attempts) == ["later", "slow"]
    assert {attempt["error"] for attempt in attempts} == {
        "cut: the server stopped before the callback was delivered"
    }
    cut = [
        record.getMessage() for record in caplog.records if record.name == "mockserver.callbacks"
    ]
    assert len(cut) == 2
    assert all("cut: the server stopped" in line for line in cut)


async def test_events_of_stub_files_are_sent_by_name_and_read_again_on_reload(
    serve: ServeStubs, receiver: Receiver, tmp_path: Any
) -> None:
    document = """
        service: shop
        stubs: []
        events:
          order.paid:
            json: {type: order.paid, at: "{{ timestamp }}", order: {id: o_1, total: 10}}
    """
    client = await serve({"shop.yaml": document})
    sent = await client.post(
        "/__admin/callbacks",
        json={
            "event": "shop/order.paid",
            "url": receiver.url + "/hook",
            "json": {"order": {"total": 12}},
        },
    )
    assert sent.status == 202
    (attempt,) = await finished(client)
    assert attempt["event"] == "shop/order.paid"
    body = receiver.got[0].json
    assert body["order"] == {"id": "o_1", "total": 12}
    assert isinstance(body["at"], int)
    write_stubs(tmp_path / "stubs", {"shop.yaml": document.replace("order.paid:", "order.sent:")})
    assert (await client.post("/__admin/stubs/reload")).status == 200
    gone = await client.post(
        "/__admin/callbacks", json={"event": "shop/order.paid", "url": receiver.url}
    )
    assert (
        "unknown event 'shop/order.paid' (known: shop/order.sent)" in (await gone.json())["error"]
    )


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            "stubs: []\nevents: {x: {json: {}}}\n",
            "shop.yaml:2: events: events are named SERVICE/EVENT",
        ),
        (
            "service: s\nstubs: []\nevents:\n  x: {jsn: {}}\n",
            "shop.yaml:4: events.x.jsn: unknown field",
        ),
        (
            "service: s\nstubs: []\nevents:\n  x:\n    json: '{{ request.path }}'\n",
            "shop.yaml:5: events.x.json: template: unknown name 'request'",
        ),
    ],
    ids=["no-service", "typo", "request-in-an-event"],
)
def test_bad_events_fail_loading_with_file_and_line(
    tmp_path: Any, document: str, error: str
) -> None:
    stubs = write_stubs(tmp_path, {"shop.yaml": document})
    with pytest.raises(StubLoadError) as failure:
        load_paths([stubs])
    assert error in str(failure.value.errors[0])


async def test_events_are_refused_in_stubs_added_through_the_admin_api(serve: ServeStubs) -> None:
    client = await serve()
    document = {"service": "s", "stubs": [{"request": {}}], "events": {"x": {"json": {}}}}
    answer = await client.post("/__admin/stubs", json=document)
    assert answer.status == 400
    (detail,) = (await answer.json())["details"]
    assert detail["field"] == "events"
    assert "events are declared in stub files" in detail["message"]


async def test_callback_limit_bounds_the_attempts_in_flight(
    serve: ServeStubs, receiver: Receiver
) -> None:
    receiver.hold["/slow"] = asyncio.Event()  # never released: the attempt times out
    files = {
        "pay.yaml": f"""
            - request: {{path: /pay}}
              callbacks:
                - {{url: "{receiver.url}/slow", timeout_ms: 200}}
                - {{url: "{receiver.url}/fast"}}
        """
    }
    client = await serve(files, callback_limit=1)
    assert (await client.get("/pay")).status == 200
    attempts = await finished(client, 2)
    # one slot: the fast callback waited for the slow one to time out, so it ended second
    assert [attempt["url"].rsplit("/", 1)[1] for attempt in attempts] == ["slow", "fast"]
    assert [received.path for received in receiver.got] == ["/slow", "/fast"]


async def test_the_async_client_sends_lists_and_waits_for_callbacks(
    serve: ServeStubs, receiver: Receiver
) -> None:
    client = await serve()
    url = str(client.make_url("/")).rstrip("/")
    async with AsyncMockServerClient(url, namespace="async-hooks") as mock:
        ident = await mock.send_callback(
            receiver.url + "/hook", json={"n": 1}, headers={"X-A": "1"}
        )
        attempt = await mock.wait_for_callback(url_contains="/hook")
        assert (attempt["id"], attempt["status"]) == (ident, 200)
        assert [listed["id"] for listed in await mock.callbacks()] == [ident]
        with pytest.raises(AssertionError, match=r"no callback with event='x/y' finished within"):
            await mock.wait_for_callback(event="x/y", timeout=0.05)
    assert receiver.got[0].headers["X-A"] == "1"
