"""Redaction: secrets replaced by `REDACTED` in what leaves the process as a file (recorded stub
documents, journal dumps, HTML reports). PRODUCT.md §11.

The in-memory journal keeps what arrived (tests assert on it); only copies written out pass
through here. One `Redaction` value holds the rules: the defaults below plus what
`--redact-header`, `--redact-query` and `--redact-json` add. Pure: no I/O.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

REDACTED: Final = "REDACTED"

DEFAULT_HEADERS: Final = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "x-api-key",
        "x-amz-security-token",
    }
)
"""Credential headers: never written out, and matched as `{present: true}` when recorded."""

DEFAULT_QUERY: Final = frozenset(
    {
        # AWS SigV4 presigned URLs carry the signature and credential in the query
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)

TOKEN_PATTERN: Final = re.compile(
    r"""
    \b(?:
        [sr]k_(?:live|test)_[0-9A-Za-z]{8,}     # Stripe secret and restricted keys
      | xox[abpors]-[0-9A-Za-z-]{8,}            # Slack tokens
      | gh[pousr]_[0-9A-Za-z]{20,}              # GitHub tokens
      | github_pat_[0-9A-Za-z_]{20,}            # GitHub fine-grained tokens
      | (?:AKIA|ASIA)[0-9A-Z]{16}               # AWS access key ids
    )\b
    """,
    re.VERBOSE,
)
"""Values that look like provider credentials wherever they appear (bodies, query, headers)."""

_SIGV4_SIGNATURE: Final = re.compile(r"(Signature=)[0-9a-f]{64}")


@dataclass(frozen=True)
class Redaction:
    """The rules in force: header and query names (compared case-insensitively), RFC 9535
    JSONPath queries into JSON bodies, and the token pattern, which always applies."""

    headers: frozenset[str] = DEFAULT_HEADERS
    query: frozenset[str] = DEFAULT_QUERY
    json_paths: tuple[str, ...] = ()
    _compiled: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def default(cls) -> Redaction:
        return cls()

    def adding(
        self,
        *,
        headers: Iterable[str] = (),
        query: Iterable[str] = (),
        json_paths: Iterable[str] = (),
    ) -> Redaction:
        """These rules with more names and paths; a JSONPath that does not parse raises
        ValueError naming it."""
        paths = (*self.json_paths, *json_paths)
        return Redaction(
            headers=self.headers | {name.lower() for name in headers},
            query=self.query | {name.lower() for name in query},
            json_paths=paths,
            _compiled=compile_paths(paths),
        )

    # --- single values -------------------------------------------------------------------

    def is_secret_header(self, name: str) -> bool:
        return name.lower() in self.headers

    def is_secret_query(self, name: str) -> bool:
        return name.lower() in self.query

    def text(self, value: str) -> str:
        """Token-looking substrings (and SigV4 signatures) replaced."""
        value = TOKEN_PATTERN.sub(REDACTED, value)
        return _SIGV4_SIGNATURE.sub(rf"\g<1>{REDACTED}", value)

    def header(self, name: str, value: str) -> str:
        return REDACTED if self.is_secret_header(name) else self.text(value)

    # --- collections ---------------------------------------------------------------------

    def header_map(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        """Headers with secret ones replaced; a value may be a string or a list of strings."""
        redacted: dict[str, Any] = {}
        for name, value in headers.items():
            secret = self.is_secret_header(name)
            redacted[name] = _each(value, _replaced if secret else self.text)
        return redacted

    def query_map(self, query: Mapping[str, Any]) -> dict[str, Any]:
        """Query parameters (or form fields) with secret ones replaced."""
        redacted: dict[str, Any] = {}
        for name, value in query.items():
            secret = self.is_secret_query(name)
            redacted[name] = _each(value, _replaced if secret else self.text)
        return redacted

    def json_value(self, value: Any) -> Any:
        """A copy of a JSON document with the JSONPath matches and token-looking strings
        replaced; the original is left as it was."""
        if value is None:
            return None
        redacted = copy.deepcopy(value)
        for compiled in self._compiled:
            for node in compiled.find(redacted):
                _replace_at(redacted, node.location)
        return _tokens_in(redacted, self.text)

    def body_text(self, text: str, parsed_json: Any = None) -> str:
        """A text body redacted: re-serialized from `json_value` when it is JSON and a rule
        changed it, else with token-looking substrings replaced."""
        if parsed_json is not None:
            redacted = self.json_value(parsed_json)
            if redacted != parsed_json:
                return json.dumps(redacted, ensure_ascii=False)
        return self.text(text)

    def journal_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A journal entry's JSON (`JournalEntry.to_json`) as a dump or report may show it. The
        compressed `raw_body` is dropped: it would carry the body's secrets past the rules."""
        redacted = dict(entry)
        if isinstance(entry.get("headers"), Mapping):
            redacted["headers"] = self.header_map(entry["headers"])
        if isinstance(entry.get("query"), Mapping):
            redacted["query"] = self.query_map(entry["query"])
        if isinstance(entry.get("form"), Mapping):
            redacted["form"] = self.query_map(entry["form"])
        parsed = entry.get("json")
        if parsed is not None:
            redacted["json"] = self.json_value(parsed)
        body = entry.get("body")
        if isinstance(body, str) and entry.get("body_encoding") != "base64":
            redacted["body"] = self.body_text(body, parsed)
        redacted.pop("raw_body", None)
        return redacted

    def callback_attempt(self, attempt: Mapping[str, Any]) -> dict[str, Any]:
        """A callback attempt's JSON (as `GET /callbacks` lists it) as a dump may show it: the
        headers sent, the body sent and the application's answer redacted."""
        redacted = dict(attempt)
        request = attempt.get("request")
        if isinstance(request, Mapping):
            sent = dict(request)
            if isinstance(request.get("headers"), Mapping):
                sent["headers"] = self.header_map(request["headers"])
            if isinstance(request.get("body"), str):
                sent["body"] = self.body_text(request["body"], _json_or_none(request["body"]))
            redacted["request"] = sent
        answer = attempt.get("response_body")
        if isinstance(answer, str):
            redacted["response_body"] = self.body_text(answer, _json_or_none(answer))
        return redacted


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def compile_paths(paths: Iterable[str]) -> tuple[Any, ...]:
    from jsonpath_rfc9535 import JSONPathError
    from jsonpath_rfc9535 import compile as compile_jsonpath

    compiled = []
    for path in paths:
        try:
            compiled.append(compile_jsonpath(path))
        except JSONPathError as error:
            raise ValueError(f"--redact-json {path!r} is not a JSONPath query: {error}") from None
    return tuple(compiled)


def _replaced(_: str) -> str:
    return REDACTED


def _each(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, list):
        return [redact(item) if isinstance(item, str) else item for item in value]
    return redact(value) if isinstance(value, str) else value


def _replace_at(document: Any, location: tuple[str | int, ...]) -> None:
    if not location:
        return  # the root itself: leave the document's shape, its strings still pass `text`
    parent = document
    for step in location[:-1]:
        parent = parent[step]
    parent[location[-1]] = REDACTED


def _tokens_in(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_tokens_in(item, text) for item in value]
    if isinstance(value, dict):
        return {key: _tokens_in(item, text) for key, item in value.items()}
    return value
