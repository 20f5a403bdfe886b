"""Callback rules without a server: where admin-added callbacks may go, how an event's fields
take overrides, and where template `env` comes from."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.callbacks import allowed_target, check_url, merged_event, split_allowed
from mockserver.config import Settings, env_from


@pytest.mark.parametrize(
    ("url", "allow", "allowed"),
    [
        ("http://127.0.0.1:8000/x", (), True),
        ("http://127.9.9.9/x", (), True),
        ("http://[::1]:8000/x", (), True),
        ("http://localhost/x", (), True),
        ("http://app.localhost/x", (), True),
        ("http://10.0.0.1/x", (), False),
        ("http://app:8000/x", ("app",), True),
        ("http://APP:8000/x", ("app:8000",), True),
        ("http://app:8001/x", ("app:8000",), False),
        ("https://app/x", ("app:443",), True),
        ("http://app/x", ("app:443",), False),
        ("http://[fd00::1]:80/x", ("[fd00::1]:80",), True),
    ],
)
def test_allowed_target(url: str, allow: tuple[str, ...], allowed: bool) -> None:
    assert allowed_target(url, allow) is allowed


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://host/x", "http:///x", "http://host:99999/x", "/relative"]
)
def test_what_is_not_a_callback_url(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        check_url(url)


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [("app", ("app", None)), ("App:80", ("app", 80)), ("[::1]:8000", ("::1", 8000))],
)
def test_split_allowed(entry: str, parsed: tuple[str, int | None]) -> None:
    assert split_allowed(entry) == parsed


def test_an_events_json_takes_overrides_key_by_key() -> None:
    event: dict[str, Any] = {
        "json": {"type": "x", "data": {"object": {"id": "pi_1", "amount": 1}}},
        "headers": {"A": "1"},
        "sign": {"scheme": "stripe", "secret": "s"},
    }
    merged = merged_event(
        event,
        {"json": {"data": {"object": {"amount": 5}}}, "headers": {"B": "2"}, "url": "http://u"},
    )
    assert merged == {
        "json": {"type": "x", "data": {"object": {"id": "pi_1", "amount": 5}}},
        "headers": {"A": "1", "B": "2"},
        "sign": {"scheme": "stripe", "secret": "s"},
        "url": "http://u",
    }
    assert "json" not in merged_event(event, {"body": "raw"})


def test_env_comes_from_variables_and_flags_which_win() -> None:
    environ = {"MOCKSERVER_ENV_APP_URL": "http://a", "MOCKSERVER_ENV_": "x", "HOME": "/root"}
    assert env_from(environ, ["APP_URL=http://b", "MODE=a=b"]) == (
        ("APP_URL", "http://b"),
        ("MODE", "a=b"),
    )
    with pytest.raises(ValueError, match="KEY=VALUE"):
        env_from({}, ["novalue"])


@pytest.mark.parametrize("entry", ["", "app:0", "app:70000", "http://app", "a b"])
def test_callback_allow_entries_are_checked(entry: str) -> None:
    with pytest.raises(ValueError, match="--callback-allow"):
        Settings(callback_allow=(entry,))
