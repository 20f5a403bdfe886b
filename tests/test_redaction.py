"""Redaction rules (PRODUCT.md §11): what a recorded file, dump or report may never carry."""

from __future__ import annotations

import pytest

from mockserver.redaction import REDACTED, Redaction


def test_credential_headers_are_replaced_whatever_their_case() -> None:
    rules = Redaction.default()
    headers = rules.header_map(
        {
            "Authorization": "Bearer abc",
            "cookie": "session=1",
            "Set-Cookie": ["a=1", "b=2"],
            "X-Api-Key": "k",
            "Accept": "application/json",
        }
    )
    assert headers == {
        "Authorization": REDACTED,
        "cookie": REDACTED,
        "Set-Cookie": [REDACTED, REDACTED],
        "X-Api-Key": REDACTED,
        "Accept": "application/json",
    }


@pytest.mark.parametrize(
    "token",
    [
        "sk_live_51Habcdefghijk",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_test_abcdefghij",
        "xoxb-1234-5678-abcdefgh",
        "xoxp-1234-5678-abcdefgh",
        "ghp_" + "a" * 36,
        "github_pat_" + "B" * 40,
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_token_looking_values_are_replaced_anywhere(token: str) -> None:
    rules = Redaction.default()
    assert rules.text(f"key={token}&x=1") == f"key={REDACTED}&x=1"
    assert rules.header("X-Custom", f"token {token}") == f"token {REDACTED}"
    assert rules.json_value({"nested": [{"key": token}]}) == {"nested": [{"key": REDACTED}]}


def test_ordinary_values_are_kept() -> None:
    rules = Redaction.default()
    assert rules.text("pi_3MtwBwLkdIwHu7ix28a3tqPa sk_ not a key") == (
        "pi_3MtwBwLkdIwHu7ix28a3tqPa sk_ not a key"
    )


def test_sigv4_query_and_authorization_signature() -> None:
    rules = Redaction.default()
    query = rules.query_map({"X-Amz-Signature": "f" * 64, "X-Amz-Date": "20260101T000000Z"})
    assert query == {"X-Amz-Signature": REDACTED, "X-Amz-Date": "20260101T000000Z"}
    credential = "AWS4-HMAC-SHA256 Credential=x/y, SignedHeaders=host, Signature=" + "a" * 64
    assert rules.text(credential).endswith(f"Signature={REDACTED}")


def test_added_rules_apply_beside_the_defaults() -> None:
    rules = Redaction.default().adding(
        headers=["X-Session"], query=["token"], json_paths=["$.card.number", "$..password"]
    )
    assert rules.header("x-session", "abc") == REDACTED
    assert rules.header("Authorization", "abc") == REDACTED
    assert rules.query_map({"TOKEN": "1", "page": "2"}) == {"TOKEN": REDACTED, "page": "2"}
    original = {"card": {"number": "4242", "exp": "12/30"}, "user": {"password": "p"}}
    assert rules.json_value(original) == {
        "card": {"number": REDACTED, "exp": "12/30"},
        "user": {"password": REDACTED},
    }
    assert original["card"]["number"] == "4242"  # the caller's copy is untouched


def test_a_bad_jsonpath_names_itself() -> None:
    with pytest.raises(ValueError, match=r"--redact-json '\$\[' is not a JSONPath query"):
        Redaction.default().adding(json_paths=["$["])


def test_journal_entry_json_is_redacted_and_the_original_kept() -> None:
    rules = Redaction.default().adding(json_paths=["$.secret"])
    entry = {
        "seq": 1,
        "headers": {"Authorization": "Bearer sk_test_abcdefghijkl", "Accept": "*/*"},
        "query": {"api_key": "sk_live_abcdefghijkl"},
        "form": {},
        "json": {"secret": "s", "amount": 1},
        "body": '{"secret": "s", "amount": 1}',
        "raw_body": "H4sI...",
        "content_encoding": "gzip",
    }
    redacted = rules.journal_entry(entry)
    assert redacted["headers"] == {"Authorization": REDACTED, "Accept": "*/*"}
    assert redacted["query"] == {"api_key": REDACTED}
    assert redacted["json"] == {"secret": REDACTED, "amount": 1}
    assert redacted["body"] == '{"secret": "REDACTED", "amount": 1}'
    assert "raw_body" not in redacted
    assert entry["headers"]["Authorization"].startswith("Bearer sk_test_")


def test_base64_bodies_are_left_as_they_are() -> None:
    entry = {"body": "c2tfdGVzdA==", "body_encoding": "base64", "json": None}
    assert Redaction.default().journal_entry(entry)["body"] == "c2tfdGVzdA=="
