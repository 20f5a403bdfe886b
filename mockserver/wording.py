"""Wording: how the server and the Python client put what they show a person into words.

One near miss on one line, a value a request had, a request matcher: the 404's `miss.message`,
a failed verify, `/__admin/requests/unmatched` read through the client and the client's
`VerificationError` all use these functions, so each reads the same wherever it appears.
Standard library only, and nothing else of the package: the client imports it, and the client
imports nothing of the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def value_text(value: object) -> str:
    """A value as the request had it, in JSON: `"eur"`, `2000`, `["a", "b"]`, and `null` when
    the request lacked the field (or sent a JSON null): the text shows what the JSON does."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def describe_near_miss(
    field: str,
    expected: str,
    actual: object,
    *,
    stub_id: str | None = None,
    source: str | None = None,
    request_seq: int | None = None,
    method: str | None = None,
    path: str | None = None,
) -> str:
    """A near miss on one line: what came close (a stub, or a recorded request) and the first
    field that differed.

    `stub create-charge (stubs/stripe.yaml:4): body.form.currency: expected equals 'usd',
    got "eur"`; `request #3 POST /v1/charges: query.q: expected equals 'x', got null`
    """
    if request_seq is not None:
        target = f"request #{request_seq} {method or ''} {path or ''}".rstrip()
    else:
        target = f"stub {stub_id}" if stub_id else "stub"
        if source:
            target += f" ({source})"
    return f"{target}: {field}: expected {expected}, got {value_text(actual)}"


def describe_matcher(matcher: Mapping[str, Any]) -> str:
    """A request matcher on one line, for verify messages; its JSON reads like a near miss's
    value (`value_text`).

    `{"method": "POST", "path": "/v1/x", "body": {...}}` -> `POST /v1/x {"body": {...}}`
    """
    rest = {key: value for key, value in matcher.items() if key not in ("method", "path")}
    method = matcher.get("method", "any method")
    path = matcher.get("path", "any path")
    words = [
        "/".join(method) if isinstance(method, list) else str(method),
        path if isinstance(path, str) else value_text(path),
    ]
    if rest:
        words.append(value_text(rest))
    return " ".join(words)
