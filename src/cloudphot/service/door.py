"""The one door of ``cloudphot serve``: a Host allow-list and no cross-site writes.

A server on 127.0.0.1 is still reachable from any web page the user opens: a page
can make the browser send requests to it (DNS rebinding puts a foreign name in the
Host header; a cross-site form POST carries the foreign page's Origin). So every
request must name an allowed host, and a state-changing request (anything but GET,
HEAD, OPTIONS) that carries an ``Origin`` or ``Referer`` must come from this server's
own origin. VO clients (pyvo, TOPCAT, stilts) send neither header, so they are not
affected. Written here because Starlette's TrustedHostMiddleware checks the host but
not the origin of writes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_HOSTS", "Door"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _host(value: str) -> str:
    """``127.0.0.1:8765`` -> ``127.0.0.1``, ``[::1]:8765`` -> ``::1`` (lower case), as
    the monitor's own check reads it: one allow-list means the same to both."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Door:
    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str] = LOOPBACK_HOSTS):
        self.app = app
        self.allowed = frozenset(_host(h) for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if _host(host) not in self.allowed:
            await _refuse(
                send, 421, f"Host {host!r} is not this server's; use one of {sorted(self.allowed)}"
            )
            return
        if scope["method"] not in _SAFE:
            site = headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                await _refuse(send, 403, f"cross-site request refused (Sec-Fetch-Site: {site})")
                return
            origin = headers.get("origin") or headers.get("referer")
            if origin and origin != "null":
                parts = urlsplit(origin)
                if (parts.netloc or "").lower() != host.lower():
                    await _refuse(send, 403, f"cross-site request from {origin!r} refused")
                    return
            elif origin == "null":
                await _refuse(send, 403, "requests from opaque origins are refused")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
