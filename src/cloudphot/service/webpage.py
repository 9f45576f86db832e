"""The web query page of ``cloudphot serve`` (and of the deployed API): ``/query``.

A single page (``web/query.html`` + ``query.js`` + ``query.css``) that talks only to
the TAP service beside it: queries go to ``tap/sync`` (ADQL or SQL, VOTable
TABLEDATA for the table shown, any TAP format for downloads), the schema browser
reads ``TAP_SCHEMA`` through the same endpoint, and an authenticated user's async
jobs and personal tables come from ``tap/async`` and ``tap/mydb``. So the page has
no path to the engine of its own: every limit, check and refusal of TAP applies,
and its error messages are TAP's.

The URLs the page calls are relative to ``/query``, so the same page works under
any root path; ``auth_prefix`` (``user/`` on AWS, where API Gateway's JWT
authorizer guards the ``/user`` routes) is where requests carrying a token go.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

__all__ = ["PAGE_HEADERS", "PAGE_MAX_ROWS", "QueryPage"]

WEB_DIR = Path(__file__).with_name("web")
#: the page's files, by the name the page asks for (nothing else is ever served)
FILES = {"query.js": "text/javascript", "query.css": "text/css"}
#: rows the page asks for to show in the browser (downloads get the service's limit)
PAGE_MAX_ROWS = 10_000
#: no framing, no sniffing, scripts and styles from this server only
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class QueryPage:
    """Routes ``/query`` (the page) and ``/query/<file>`` (its script and style)."""

    def __init__(self, survey: str, sync_max_rows: int, auth_prefix: str = ""):
        self.survey = survey
        self.max_rows = max(1, min(int(sync_max_rows), PAGE_MAX_ROWS))
        self.sync_max_rows = int(sync_max_rows)
        self.auth_prefix = auth_prefix

    def routes(self) -> list[Route]:
        return [
            Route("/query", self.page, methods=["GET"]),
            Route("/query/", self.slash, methods=["GET"]),
            Route("/query/{name:path}", self.file, methods=["GET"]),
        ]

    def render(self) -> bytes:
        text = (WEB_DIR / "query.html").read_text(encoding="utf-8")
        values = {
            "SURVEY": self.survey,
            "MAX_ROWS": str(self.max_rows),
            "SYNC_MAX_ROWS": str(self.sync_max_rows),
            "AUTH_PREFIX": self.auth_prefix,
        }
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
        return text.encode("utf-8")

    async def page(self, request: Request) -> Response:
        return Response(self.render(), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def slash(self, request: Request) -> Response:
        # the page's URLs are relative to /query: /query/ would put them under it
        return RedirectResponse(str(request.url_for("page")), status_code=308)

    async def file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            return Response(
                f"no file {name!r} here: the query page is /query",
                status_code=404,
                media_type="text/plain; charset=utf-8",
            )
        data = (WEB_DIR / name).read_bytes()
        return Response(data, media_type=f"{FILES[name]}; charset=utf-8", headers=PAGE_HEADERS)
