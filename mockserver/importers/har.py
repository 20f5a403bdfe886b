"""HAR 1.2 files (browser developer tools, proxies) -> exchanges.

Reads `log.entries[]`: `request.method/url/headers/postData.text`, `response.status/headers/
content.text` with `content.encoding: base64` for binary bodies. HTTP/2 pseudo-headers
(`:authority`...) are left out. An entry without an answer (status 0: blocked or cancelled in
the browser) or whose body was not exported is a `Problem`; a file that is not HAR is an
`InputError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mockserver.importers.exchanges import Exchange
from mockserver.importers.report import InputError, Problems


def read_har(path: Path, problems: Problems) -> list[Exchange]:
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise InputError(source, error.strerror or str(error)) from None
    except UnicodeDecodeError as error:
        raise InputError(source, f"not UTF-8 text: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise InputError(
            source, f"not JSON: {error.msg} (column {error.colno})", error.lineno
        ) from None
    log = data.get("log") if isinstance(data, Mapping) else None
    if not isinstance(log, Mapping) or not isinstance(log.get("entries"), list):
        raise InputError(source, "not a HAR file: no 'log.entries' list")
    exchanges = []
    for index, item in enumerate(log["entries"]):
        entry = f"log.entries[{index}]"
        try:
            exchanges.append(_exchange(source, entry, item, problems))
        except _Skipped as skipped:
            problems.add(source, f"{entry}.{skipped.field}", f"{skipped.reason}: entry left out")
    return exchanges


class _Skipped(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def _exchange(source: str, entry: str, item: Any, problems: Problems) -> Exchange:
    request = _mapping(item, "request")
    response = _mapping(item, "response")
    method, url = request.get("method"), request.get("url")
    if not isinstance(method, str) or not method:
        raise _Skipped("request.method", "missing or not a string")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _Skipped("request.url", f"{url!r} is not an http(s) URL")
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or status == 0:
        raise _Skipped("response.status", f"{status!r}: no answer was recorded")
    post = request.get("postData")
    request_body = b""
    if isinstance(post, Mapping):
        if isinstance(post.get("text"), str):
            request_body = post["text"].encode()
        elif post.get("params"):
            problems.add(
                source,
                f"{entry}.request.postData.params",
                "multipart parameters not matched: the stub answers any body",
            )
    content = response.get("content")
    body = _content(content) if isinstance(content, Mapping) else None
    if body is None:
        size = content.get("size") if isinstance(content, Mapping) else None
        if isinstance(size, int) and size > 0:
            problems.add(
                source,
                f"{entry}.response.content.text",
                f"the {size}-byte body was not exported: the stub answers with no body",
            )
        body = b""
    return Exchange(
        source=source,
        entry=entry,
        method=method,
        url=url,
        request_headers=_headers(request.get("headers")),
        request_body=request_body,
        status=status,
        response_headers=_headers(response.get("headers")),
        response_body=body,
    )


def _mapping(item: Any, key: str) -> Mapping[str, Any]:
    value = item.get(key) if isinstance(item, Mapping) else None
    if not isinstance(value, Mapping):
        raise _Skipped(key, "missing or not an object")
    return value


def _headers(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        (str(header["name"]), str(header.get("value", "")))
        for header in value
        if isinstance(header, Mapping)
        and "name" in header
        and not str(header["name"]).startswith(":")
    ]


def _content(content: Mapping[str, Any]) -> bytes | None:
    text = content.get("text")
    if not isinstance(text, str):
        return None
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as error:
            raise _Skipped("response.content.text", f"not base64: {error}") from None
    return text.encode()
