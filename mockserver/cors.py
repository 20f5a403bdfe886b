"""CORS for browsers calling the mock from another origin: preflights answered, answers marked.

With `--cors` every mocked request is concerned; with `cors: true` in a stub document, requests
that document's stubs could answer (their method and path) are. For those, a browser's preflight
(`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered 204 with the request's
origin, the method asked for, the headers asked for (echoed), credentials allowed and a max age,
unless a stub that lists `OPTIONS` matches it (the user's own answer wins). Every other answer
to a request with an `Origin` (404s included) gets `Access-Control-Allow-Origin` (the origin),
`Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` (the headers the answer
sends), unless its stub sets `Access-Control-Allow-Origin` itself.

The journal keeps an automatic preflight as an OPTIONS answered 204, matched, without a stub,
which it shows as `"preflight": true` (`exchange.is_preflight`). The request path asks this
module nothing when CORS is off: `--cors` unset and no `cors: true` stub in the namespace.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from mockserver.answers import Answer, Replied
from mockserver.exchange import Outcome
from mockserver.incoming import IncomingRequest
from mockserver.matching import match_params
from mockserver.store import StubSet
from mockserver.stub import Stub

MAX_AGE_SECONDS: Final = 600
"""How long a browser may reuse a preflight's answer: short, since stubs change between tests."""
_ALLOW_ORIGIN: Final = "access-control-allow-origin"
_CORS_NAMES: Final = frozenset(
    (
        _ALLOW_ORIGIN,
        "access-control-allow-credentials",
        "access-control-expose-headers",
        "vary",
    )
)


def concerned_origin(request: IncomingRequest, stubs: StubSet, everywhere: bool) -> str | None:
    """The request's `Origin` when CORS applies to it: `everywhere` (--cors), or a stub of a
    `cors: true` document could answer its method (a preflight's: the one it asks for) and path.
    None when the request has no Origin or CORS does not apply."""
    origin = request.headers.get("origin")
    if origin is None or everywhere:
        return origin
    method = request.method
    if is_preflight(request):
        method = request.headers["access-control-request-method"].strip().upper()
    if any(_covers(stub, method, request) for stub in stubs.cors_stubs):
        return origin
    return None


def _covers(stub: Stub, method: str, request: IncomingRequest) -> bool:
    """Whether `stub` could answer `method` at the request's path (its other fields aside: a
    preflight carries none of them)."""
    matcher = stub.matcher
    if matcher.methods is not None and method not in matcher.methods:
        return False
    return matcher.path is None or matcher.path.compare(request.path) is not None


def is_preflight(request: IncomingRequest) -> bool:
    """A browser's CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
    if request.method != "OPTIONS":
        return False
    headers = request.headers
    return "origin" in headers and "access-control-request-method" in headers


def answered_by_a_stub(request: IncomingRequest, stubs: StubSet) -> bool:
    """Whether a stub that lists OPTIONS itself matches the preflight (then it answers, not the
    automatic preflight). A stub for any method does not count: it was written for the others."""
    for stub in stubs.candidates(request.method, request.path):
        methods = stub.matcher.methods
        if (
            methods is not None
            and "OPTIONS" in methods
            and match_params(stub.matcher, request) is not None
        ):
            return True
    return False


def preflight(request: IncomingRequest, origin: str) -> tuple[Answer, Outcome]:
    """The 204 that lets the browser send the request it asked about, and its outcome."""
    headers = request.headers
    allowed = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", headers["access-control-request-method"].strip()),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Max-Age", str(MAX_AGE_SECONDS)),
        ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    asked = headers.get("access-control-request-headers")
    if asked:
        allowed.insert(2, ("Access-Control-Allow-Headers", asked))
    reply = web.Response(status=204, headers=allowed)
    return Replied(reply), Outcome(True, 204)


def marked(answer: Answer, origin: str) -> Answer:
    """`answer` with the headers that let the page at `origin` read it; as it is when its stub
    speaks CORS itself."""
    names = answer.header_names()
    lowered = {name.lower() for name in names}
    if _ALLOW_ORIGIN in lowered:
        return answer
    exposed = [name for name in names if name.lower() not in _CORS_NAMES]
    added: list[tuple[str, str]] = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        # `*` exposes every header to a request without credentials; the names, to one with
        ("Access-Control-Expose-Headers", ", ".join(["*", *exposed])),
    ]
    if "vary" not in lowered:
        added.append(("Vary", "Origin"))
    return answer.with_headers(added)
