"""Multipart bodies (`multipart/form-data`, RFC 7578): the parts of a body already read.

Parsed with the standard library's `email` parser, off the request path's hot part: only when a
stub with `body.multipart` is compared or the journal shows the entry, and once per body (a
cache of the last two bodies, keyed by the body itself, so several stubs comparing one request
parse it once; kept that small because a body may be as large as --max-body).
Each part keeps its bytes exactly as sent. Pure: no I/O.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from typing import Any, Final

_MULTIPART: Final = "multipart/"


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its form field name, the file name and type an upload gives, its bytes."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        """The bytes as UTF-8 text (what value matchers compare); undecodable bytes as U+FFFD."""
        return self.data.decode("utf-8", "replace")

    def to_json(self) -> dict[str, Any]:
        """{name, filename, content_type, size, text} or, for bytes that are not UTF-8, base64."""
        shown: dict[str, Any] = {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
        }
        try:
            shown["text"] = self.data.decode("utf-8")
        except UnicodeDecodeError:
            shown["base64"] = base64.b64encode(self.data).decode()
        return shown


def is_multipart(content_type: str) -> bool:
    return content_type.lstrip().lower().startswith(_MULTIPART)


@functools.lru_cache(maxsize=2)
def parts(content_type: str, body: bytes) -> tuple[Part, ...] | None:
    """The parts of `body` sent as `content_type`; None when it is not a multipart body.

    ("multipart/form-data; boundary=b", b"--b\\r\\nContent-Disposition: form-data; name=a"
    b"\\r\\n\\r\\n1\\r\\n--b--\\r\\n") -> (Part("a", None, None, b"1"),).
    """
    if not is_multipart(content_type) or not body:
        return None
    # imported here: only multipart bodies need the parser
    import email.parser
    import email.policy
    import email.utils

    head = f"Content-Type: {content_type}\r\n\r\n".encode("utf-8", "surrogateescape")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    found = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, tuple):  # RFC 2231 (name*=utf-8''...): charset, language, value
            name = email.utils.collapse_rfc2231_value(name)
        found.append(
            Part(
                name=name,
                filename=part.get_filename(),
                content_type=part.get_content_type() if "content-type" in part else None,
                data=payload if isinstance(payload, bytes) else b"",
            )
        )
    return tuple(found)
