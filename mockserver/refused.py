"""What can be read of a request the HTTP parser refused (a line or a header block over the
limits, or bytes that break the grammar): its method, its target so far and its complete header
lines, so that the refusal is journaled with what arrived.

A *request*, for the journal, is bytes that begin with a request line as far as one was read: a
method (an HTTP token) and a target in origin form (`/...`) or absolute form (`http://...`).
Bytes that do not begin so (a TLS hello on the plain port, random noise) are not a request: they
are answered 400 and not journaled. Pure: bytes in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mockserver.incoming import RawHeaders

_TOKEN: Final = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE: Final = re.compile(
    rb"(?:\A|\n)[\r\n]*(" + _TOKEN + rb"{1,32}) "
    rb"(/[^ \r\n]*|[A-Za-z][A-Za-z0-9+.\-]*://[^ \r\n]*)"
)
_HEADER_LINE: Final = re.compile(rb"(" + _TOKEN + rb"+):[ \t]*(.*?)[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class RefusedHead:
    """The start of a refused request: `target` as far as it was read (the whole request line
    when `line_complete`), and the header lines that arrived whole after it."""

    method: str
    target: str
    line_complete: bool
    raw_headers: RawHeaders


def read_refused_head(data: bytes, max_headers: int, max_field_size: int) -> RefusedHead | None:
    """The last request that begins in `data` (the bytes of the connection since its last
    complete request), or None when no request line begins there. Header lines are read as the
    parser reads them: at most `max_headers`, none longer than `max_field_size`.

    b"GET /a?b=1 HTTP/1.1\\r\\nHost: x\\r\\nX-Big: aaa" -> ("GET", "/a?b=1", True,
    ((b"Host", b"x"),)): the line cut off by the limit is not among the headers."""
    found = None
    for found in _REQUEST_LINE.finditer(data):  # noqa: B007  # the last one is the one refused
        continue
    if found is None:
        return None
    method = found.group(1).decode("ascii")
    target = found.group(2).decode("utf-8", "replace")
    rest = data[found.end() :]
    end_of_line = rest.find(b"\n")
    if end_of_line < 0:
        return RefusedHead(method.upper(), target, False, ())
    headers: list[tuple[bytes, bytes, int]] = []
    for line in _HEADER_LINE.finditer(rest, end_of_line + 1):
        if line.start() != (headers[-1][2] if headers else end_of_line + 1):
            break  # a line that is not a header line ends the block (the body, or noise)
        if len(line.group(1)) + len(line.group(2)) > max_field_size:
            break  # the line the parser refused
        headers.append((line.group(1), line.group(2), line.end()))
        if len(headers) >= max_headers:
            break
    return RefusedHead(
        method.upper(), target, True, tuple((name, value) for name, value, _ in headers)
    )
