"""The importers' pure parts: service names from hosts, secrets in request bodies, the help."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mockserver.importers.exchanges import (
    Exchange,
    json_body_matcher,
    request_matcher,
    stub_path,
)
from mockserver.importers.report import Problems
from mockserver.importers.services import ServiceNames, default_service, parse_service_option
from mockserver.importers.wiremock_request import RequestTranslation
from mockserver.redaction import Redaction


@pytest.mark.parametrize(
    ("host", "service"),
    [
        ("api.stripe.com", "stripe"),
        ("api.github.com", "github"),
        ("hooks.slack.com", "slack"),
        ("api.example.co.uk", "example"),
        ("shop.example.com.au", "example"),
        ("example.org", "example"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127-0-0-1"),
        ("[::1]", "ipv6-1"),
        ("s3.eu-west-1.amazonaws.com", "amazonaws"),
    ],
    ids=lambda value: str(value),
)
def test_the_default_service_is_the_name_below_the_public_suffix(host: str, service: str) -> None:
    assert default_service(host) == service


def test_hosts_that_would_share_a_name_are_told_apart_and_chosen_names_win() -> None:
    names = ServiceNames({"api.stripe.com": "payments"}).names(
        ["api.github.com", "uploads.github.com", "api.stripe.com", "127.0.0.1:8001"]
    )
    assert names == {
        "api.github.com": "api-github",
        "uploads.github.com": "uploads-github",
        "api.stripe.com": "payments",
        "127.0.0.1:8001": "127-0-0-1",
    }
    # a name alone covers every host not named otherwise
    assert ServiceNames({}, rest="app").names(["a.example.com", "b.test"]) == {
        "a.example.com": "app",
        "b.test": "app",
    }


@pytest.mark.parametrize("option", ["Stripe=api.stripe.com", "my service", "=api.stripe.com"])
def test_a_service_name_must_be_a_path_segment(option: str) -> None:
    with pytest.raises(ValueError, match="--service"):
        parse_service_option(option)


def test_a_secret_in_a_json_body_is_matched_as_present_and_never_written() -> None:
    body = {
        "card": {"number": "4242"},
        "key": "sk_live_abcdefgh12345678",
        "tags": ["ghp_" + "a" * 36],
    }
    assert json_body_matcher(body, Redaction.default().json_value(body)) == {
        "json": {"card": {"number": "4242"}},
        "json_path": {"$['key']": {"present": True}, "$['tags']": {"present": True}},
    }


def test_a_secret_in_a_text_body_becomes_a_pattern_that_still_matches_the_request() -> None:
    sent = "token=xoxb-1234567890-abcdefghij&channel=C1"
    exchange = Exchange(
        "c.yaml",
        "interactions[0]",
        "POST",
        "https://slack.com/api/chat.postMessage",
        [("Content-Type", "text/plain")],
        sent.encode(),
        200,
        [],
        b"",
    )

    body = request_matcher(exchange, Redaction.default(), Problems())["body"]

    assert "xoxb" not in body["matches"]
    assert re.fullmatch(body["matches"], sent)
    assert not re.fullmatch(body["matches"], "token=xoxb-1&channel=C2")


def test_import_help_names_the_formats_the_exit_codes_and_the_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli", "import", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for text in ("{vcr,har,wiremock}", "--out DIR", "--service NAME=HOST", "REDACTED", "3 some"):
        assert text in " ".join(done.stdout.split()), text


def test_wiremock_secrets_placeholders_and_key_order_translate_to_the_closest_stub(
    tmp_path: Path,
) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "__files").mkdir()
    (tmp_path / "__files" / "me.json").write_text('{"token": "ghp_' + "b" * 36 + '"}')
    mapping = {
        "request": {
            "method": "POST",
            "urlPath": "/v1/things",
            "queryParameters": {
                "mode": {"caseInsensitive": True, "equalTo": "Fast"},
                "key": {"equalTo": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
            },
            "bodyPatterns": [
                {
                    "ignoreExtraElements": True,
                    "equalToJson": {
                        "id": "${json-unit.any-string}",
                        "secret": "sk_live_abcdefgh12345678",
                        "n": 1,
                    },
                }
            ],
        },
        "response": {"status": 200, "bodyFileName": "me.json"},
    }
    mapping_file = tmp_path / "mappings" / "things.json"
    mapping_file.write_text(json.dumps(mapping))
    out = tmp_path / "out"

    done = run("import", "wiremock", str(tmp_path), "-o", str(out), "--service", "api")

    assert done.returncode == 3
    assert done.stderr.splitlines()[:-1] == [
        f"{mapping_file}: response.bodyFileName: 'me.json': secrets written as REDACTED",
        f"{mapping_file}: request.queryParameters.key.equalTo: a credential is never written: "
        "matched as {present: true}",
        f"{mapping_file}: request.bodyPatterns[0].equalToJson: a credential is never written: "
        "its member is matched as {present: true}",
        f"{mapping_file}: request.bodyPatterns[0].equalToJson: JsonUnit placeholders match as "
        "{present: true}",
    ]
    written = "".join(path.read_text() for path in out.rglob("*") if path.is_file())
    assert "sk_test" not in written
    assert "sk_live" not in written
    assert "ghp_" not in written
    (stub,) = yaml.safe_load((out / "api.yaml").read_text())["stubs"]
    assert stub["request"]["query"] == {"mode": {"matches": "(?i)Fast"}, "key": {"present": True}}
    assert stub["request"]["body"] == {
        "json": {"n": 1},
        "json_path": {"$['id']": {"present": True}, "$['secret']": {"present": True}},
    }
    assert run("validate", str(out)).returncode == 0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mockserver.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_wiremock_query_credentials_are_matched_as_present_and_reported() -> None:
    problems = Problems()
    translation = RequestTranslation("m.json", "", Redaction.default(), problems)

    matcher = translation.request(
        {
            "url": "/file?X-Amz-Signature=abc&token=ghp_" + "a" * 36 + "&part=1",
            "queryParameters": {"X-Amz-Credential": {"equalTo": "AKIDEXAMPLE/20261124"}},
        }
    )

    assert matcher == {
        "path": "/file",
        "query": {
            "X-Amz-Signature": {"present": True},
            "token": {"present": True},
            "part": "1",
            "X-Amz-Credential": {"present": True},
        },
    }
    assert [str(problem) for problem in problems.found] == [
        "m.json: request.url: X-Amz-Signature: a credential is never written: matched as present",
        "m.json: request.url: token: a credential is never written: matched as present",
        "m.json: request.queryParameters.X-Amz-Credential: a credential: matched as present",
    ]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("/v1/charges", "/v1/charges"),
        ("/menu/caf%C3%A9", "/menu/café"),
        ("/api/v4/projects/group%2Fproject", "/api/v4/projects/group%2Fproject"),
        ("/discount/100%25", "/discount/100%25"),
        ("", "/"),
    ],
    ids=["plain", "utf-8", "encoded-slash", "encoded-percent", "empty"],
)
def test_a_recorded_path_is_decoded_segment_by_segment(sent: str, written: str) -> None:
    assert stub_path(sent) == written
