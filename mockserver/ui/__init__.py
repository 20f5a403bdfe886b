"""The live view's page and the HTML report, from one template, script and style sheet.

The page is one HTML document with its style and script inline (shipped as package data beside
this module: no CDN, no build step), so serving it is one response and a report is one file that
needs nothing else. What differs is the data block: the live view's names the admin prefix (the
script then reads the admin API); a report's holds the entries themselves. Both carry a Content
Security Policy that allows exactly the inline script and style (by hash) and no other source; a
report's allows no connection at all. Pure: reads its own package files, no sockets.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template
from typing import Any, Final

_JSON_IN_HTML: Final = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
"""A JSON text inside <script> must not close the element or start a comment."""


@dataclass(frozen=True, slots=True)
class Page:
    html: str
    content_security_policy: str


@dataclass(frozen=True, slots=True)
class _Assets:
    template: Template
    style: str
    script: str
    policy: str
    """The sources the inline style and script are allowed by (their hashes)."""


@cache
def _assets() -> _Assets:
    here = files("mockserver.ui")
    style = here.joinpath("view.css").read_text(encoding="utf-8")
    script = here.joinpath("view.js").read_text(encoding="utf-8")
    return _Assets(
        Template(here.joinpath("page.html").read_text(encoding="utf-8")),
        style,
        script,
        f"script-src {_hash(script)}; style-src {_hash(style)}",
    )


def _hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def data_json(data: Any) -> str:
    """`data` as JSON that is safe inside a <script> element."""
    return json.dumps(data, ensure_ascii=False, default=str).translate(_JSON_IN_HTML)


def _render(data: dict[str, Any], title: str, csp_meta: str) -> str:
    assets = _assets()
    return assets.template.substitute(
        csp_meta=csp_meta,
        title=html.escape(title),
        style=assets.style,
        script=assets.script,
        data=data_json(data),
    )


def live_page(admin_prefix: str, *, token_required: bool) -> Page:
    """The live view as `GET {prefix}/ui` serves it, with the policy for its header (the admin
    API on the same origin is the one place it connects to)."""
    policy = (
        f"default-src 'none'; {_assets().policy}; connect-src 'self'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    data = {"mode": "live", "prefix": admin_prefix, "token_required": token_required}
    return Page(_render(data, "mockserver live view", ""), policy)


def report_page(namespaces: list[dict[str, Any]], *, title: str, generated: str) -> str:
    """A self-contained report: `namespaces` is `[{name, label, entries, stubs, scenarios}]`
    (entries oldest first, as the admin API lists them; stubs and scenarios may be None when
    unknown). Its policy (a meta element) forbids every connection: opening it fetches nothing.
    """
    policy = f"default-src 'none'; {_assets().policy}; img-src data:; base-uri 'none'"
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">\n'
    data = {"mode": "report", "title": title, "generated": generated, "namespaces": namespaces}
    return _render(data, f"mockserver report: {title}", meta)
