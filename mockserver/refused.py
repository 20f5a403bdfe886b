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
_REQUEST_LINE_HERE: Final = re.compile(
    rb"(" + _TOKEN + rb"{1,32}) (/[^ \r\n]*|[A-Za-z][A-Za-z0-9+.\-]*://[^ \r\n]*)"
)
"""A request line that begins right where the previous request's bytes ended."""
_BLANK_LINE: Final = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE: Final = re.compile(rb"(" + _TOKEN + rb"+):[ \t]*(.*?)[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class RefusedHead:
    """The start of a refused request: `target` as far as it was read (the whole request line
    when `line_complete`), and the header lines that arrived whole after it."""

    method: str
    target: str
    line_complete: bool
    raw_headers: RawHeaders


def read_refused_heads(data: bytes, max_headers: int, max_field_size: int) -> list[RefusedHead]:
    """Every request that begins in `data` (the bytes of the connection since its last
    complete request), in order. The last is the one the parser refused; those before it were
    complete but arrived in the same read, and the parser drops them with it (the client reads
    the refusal as the answer to the first). A complete head's body is passed over by its
    Content-Length; a chunked one ends the reading there. Header lines are read as the parser
    reads them: at most `max_headers`, none longer than `max_field_size`."""
    heads: list[RefusedHead] = []
    position = 0
    while position <= len(data):
        # where the previous request ended, or further on after a line break
        line = _REQUEST_LINE_HERE.match(data, position) or _REQUEST_LINE.search(data, position)
        if line is None:
            break
        head = _head(line, data[line.end() :], max_headers, max_field_size)
        heads.append(head)
        blank = _BLANK_LINE.search(data, line.end())
        body = _body_length(head)
        if blank is None or body is None:
            break
        position = blank.end() + body
    return heads


def read_refused_head(data: bytes, max_headers: int, max_field_size: int) -> RefusedHead | None:
    """The last request that begins in `data` (see `read_refused_heads`), or None when no
    request line begins there.

    b"GET /a?b=1 HTTP/1.1\\r\\nHost: x\\r\\nX-Big: aaa" -> ("GET", "/a?b=1", True,
    ((b"Host", b"x"),)): the line cut off by the limit is not among the headers."""
    heads = read_refused_heads(data, max_headers, max_field_size)
    return heads[-1] if heads else None


def _head(line: re.Match[bytes], rest: bytes, max_headers: int, max_field_size: int) -> RefusedHead:
    method = line.group(1).decode("ascii")
    target = line.group(2).decode("utf-8", "replace")
    end_of_line = rest.find(b"\n")
    if end_of_line < 0:
        return RefusedHead(method.upper(), target, False, ())
    headers: list[tuple[bytes, bytes, int]] = []
    for header in _HEADER_LINE.finditer(rest, end_of_line + 1):
        if header.start() != (headers[-1][2] if headers else end_of_line + 1):
            break  # a line that is not a header line ends the block (the body, or noise)
        if len(header.group(1)) + len(header.group(2)) > max_field_size:
            break  # the line the parser refused
        headers.append((header.group(1), header.group(2), header.end()))
        if len(headers) >= max_headers:
            break
    return RefusedHead(
        method.upper(), target, True, tuple((name, value) for name, value, _ in headers)
    )


def _body_length(head: RefusedHead) -> int | None:
    """The bytes of body after a complete head: its Content-Length (0 without one); None for a
    chunked body or a length that does not read (where the next request begins is unknown)."""
    length = 0
    for name, value in head.raw_headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return None
        if lowered == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
    return length if length >= 0 else None
