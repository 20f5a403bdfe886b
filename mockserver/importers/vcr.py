"""vcrpy cassettes -> exchanges. Reads the format vcrpy writes (version 1, YAML or JSON):

    interactions:
    - request: {method: GET, uri: https://api.stripe.com/v1/charges, body: null,
                headers: {Authorization: [Bearer sk_test_...]}}
      response: {status: {code: 200, message: OK}, headers: {Content-Type: [application/json]},
                 body: {string: '{"id": "ch_1"}'}}
    version: 1

A body is text, `!!binary` bytes, or null. An interaction missing what an exchange needs is a
`Problem`; a file that is not a cassette at all is an `InputError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from mockserver.importers.exchanges import Exchange
from mockserver.importers.report import InputError, Problems


def read_cassette(path: Path, problems: Problems) -> list[Exchange]:
    source = str(path)
    data = _load(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise InputError(source, "not a vcrpy cassette: no 'interactions' list at the top")
    return list(_exchanges(source, data["interactions"], problems))


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(str(path), error.strerror or str(error)) from None
    except UnicodeDecodeError as error:
        raise InputError(str(path), f"not UTF-8 text: {error.reason}") from None
    try:
        # safe_load reads JSON too (vcrpy's json serializer), and `!!binary` as bytes
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise InputError(str(path), f"not YAML: {error.problem}", line) from None
    except yaml.YAMLError as error:
        raise InputError(str(path), f"not YAML: {error}") from None


def _exchanges(source: str, interactions: list[Any], problems: Problems) -> Iterator[Exchange]:
    for index, interaction in enumerate(interactions):
        entry = f"interactions[{index}]"
        try:
            yield _exchange(source, entry, interaction)
        except _Missing as missing:
            problems.add(source, f"{entry}.{missing.field}", f"{missing.reason}: left out")


class _Missing(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def _exchange(source: str, entry: str, interaction: Any) -> Exchange:
    request = _mapping(interaction, "request", "")
    response = _mapping(interaction, "response", "")
    method, uri = request.get("method"), request.get("uri")
    if not isinstance(method, str) or not method:
        raise _Missing("request.method", "missing or not a string")
    if not isinstance(uri, str) or "://" not in uri:
        raise _Missing("request.uri", f"{uri!r} is not an absolute URL")
    status = _mapping(response, "status", "response.")
    code = status.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise _Missing("response.status.code", f"{code!r} is not a status code")
    body = response.get("body")
    response_body = body.get("string") if isinstance(body, Mapping) else body
    return Exchange(
        source=source,
        entry=entry,
        method=method,
        url=uri,
        request_headers=_headers(request.get("headers"), "request.headers"),
        request_body=_bytes(request.get("body"), "request.body"),
        status=code,
        response_headers=_headers(response.get("headers"), "response.headers"),
        response_body=_bytes(response_body, "response.body.string"),
    )


def _mapping(parent: Any, key: str, prefix: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if not isinstance(value, Mapping):
        raise _Missing(prefix + key, "missing or not a mapping")
    return value


def _headers(value: Any, field: str) -> list[tuple[str, str]]:
    """{Name: [v1, v2]} (vcrpy), or {Name: v} -> [(Name, v1), (Name, v2)]"""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _Missing(field, "not a mapping of header names to values")
    pairs = []
    for name, values in value.items():
        for item in values if isinstance(values, list) else [values]:
            pairs.append((str(name), str(item)))
    return pairs


def _bytes(value: Any, field: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise _Missing(field, f"{type(value).__name__} is not a body")
