"""Security headers on every HTTP response: CSP, nosniff, no framing, no referrer.

The public page and the dashboard load only their own files from /static (no inline script
or style, no third-party origin), so their policy is `'self'` and nothing else; a value a
department sent can then never run as script even if it reached the page as markup. JSON
and other responses get `default-src 'none'`: opened in a browser they load nothing.

/docs and /redoc are FastAPI's Swagger UI and ReDoc pages, which load their bundles from
cdn.jsdelivr.net and start them with an inline script. Their policy allows that CDN and
exactly those inline scripts (by SHA-256 hash, computed from the page as served), plus inline
styles (both UIs set style attributes from script); they show no department data, and this
machine being offline, the CDN part matters only where the servers can reach it.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.I)


def docs_csp(html: bytes) -> str:
    """The policy of a Swagger UI / ReDoc page: its CDN, and its inline scripts by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}".rstrip()
        + f"; style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com; "
        "font-src 'self' https://fonts.gstatic.com; "
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
        f"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _with_headers(message: Message, csp: str) -> Message:
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    for name, value in (*COMMON_HEADERS, (b"content-security-policy", csp.encode())):
        if name not in present:  # a route that chose its own value keeps it
            headers.append((name, value))
    return {**message, "headers": headers}


class SecurityHeaders:
    """ASGI middleware adding COMMON_HEADERS and a Content-Security-Policy to responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "") in DOCS_PATHS
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                content_type = headers.get(b"content-type", b"")
                html = content_type.lower().startswith(b"text/html")
                if docs and html:
                    start = message  # the policy needs the page's inline scripts
                    return
                await send(_with_headers(message, PAGE_CSP if html else API_CSP))
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                await send(_with_headers(start, docs_csp(body)))
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["API_CSP", "COMMON_HEADERS", "PAGE_CSP", "SecurityHeaders", "docs_csp"]
