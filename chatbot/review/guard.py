"""Who may talk to the review page: a middleware that refuses cross-site and rebinding requests.

The page can write intents, so a web page the reviewer happens to visit must not be able to
drive it. Three checks, cheapest first:

- ``Host`` must name the loopback address, or the very IP address the connection arrived on,
  with the port it arrived on (or be one of the configured extra hosts): a DNS-rebinding
  page reaches us under its own host name, never as a bare IP address of ours.
- A state-changing request with an ``Origin`` (or a ``Sec-Fetch-Site``) must be same-origin.
- A state-changing request must carry the per-process CSRF token in ``X-CSRF-Token``; the
  page gets it embedded in its HTML, a foreign page cannot read it.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def allowed_hosts(port: int, extra: Collection[str] = ()) -> frozenset[str]:
    return frozenset({f"{name}:{port}" for name in LOOPBACK_NAMES} | {h.lower() for h in extra})


def local_address(request: web.Request) -> tuple[str, int] | None:
    """The (IP, port) the connection arrived on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if (isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[0], str)
            and isinstance(sockname[1], int)):
        return sockname[0], sockname[1]
    return None


def local_port(request: web.Request) -> int | None:
    address = local_address(request)
    return None if address is None else address[1]


def host_allowed(request: web.Request, extra: Collection[str]) -> bool:
    address = local_address(request)
    if address is None:
        return False
    ip, port = address
    host = request.headers.get("Host", "").lower()
    arrived_on = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return host in allowed_hosts(port, extra) or host == arrived_on.lower()


def same_origin(request: web.Request) -> bool:
    """No Origin (curl, old browsers) passes; "null" or any other origin does not."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin.lower() == f"http://{request.headers.get('Host', '')}".lower()


def token_matches(request: web.Request, token: str) -> bool:
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(given.encode(), token.encode())


def guard(*, csrf_token: str, extra_hosts: Collection[str] = ()) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request, extra_hosts):
            response: web.StreamResponse = _refuse(421, "unexpected Host header")
        elif request.method not in SAFE_METHODS and not same_origin(request):
            response = _refuse(403, "cross-origin request refused")
        elif request.method not in SAFE_METHODS and not token_matches(request, csrf_token):
            response = _refuse(403, "missing or wrong CSRF token; reload the page")
        else:
            response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return middleware


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
