"""What keeps other web pages and other hosts away from the app's local server.

Any page the user visits can send requests to 127.0.0.1, and DNS rebinding can give an attacker's name
our address. So every request is checked, in this order, before it reaches a route:

1. Host must be a loopback name (or the explicit --host) with our port, else 421 (DNS rebinding).
2. A cross-site request (an Origin other than our own, `Origin: null`, or Sec-Fetch-Site cross-site)
   gets 403; no CORS headers are ever sent.
3. Every route but the static shell (`/`, `/static/...`) needs the token: `Authorization: Bearer TOKEN`,
   or the HttpOnly SameSite=Strict cookie set when the page is opened with `?token=`. Without it: 401.
4. A request body is accepted only as `application/json` (else 415) and up to MAX_BODY bytes (else 413).

Every response carries a Content-Security-Policy that allows only our own scripts and styles (no inline
code), images from us and data: URLs (previews), and no framing.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from pathlib import Path

TOKEN_COOKIE = "rae_token"
MAX_BODY = 64 * 1024
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PUBLIC_PATHS = re.compile(r"^/(static/[A-Za-z0-9._-]+|favicon\.ico)?$")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png$")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """("host", port) of a Host header value ("[::1]:8000", "localhost:8000", "example.com")."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", value.strip())
    if not m:
        return "", None
    host = (m.group(1) or m.group(3) or "").lower()
    port = m.group(2) or m.group(4)
    return host, int(port) if port else None


def safe_image_path(folder: Path, name: str) -> Path | None:
    """The output folder's PNG called `name`, or None: a plain name (no separators, no leading dot, no
    `..`), an existing regular file, not a symlink, directly inside the folder."""
    if not IMAGE_NAME.fullmatch(name) or ".." in name:
        return None
    path = folder / name
    try:
        if path.is_symlink() or not path.is_file():
            return None
        if path.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return path


class Guard:
    """ASGI middleware applying the checks above to every HTTP request."""

    def __init__(self, app, token: str, port_ref: list[int], allowed_hosts: set[str]):
        self.app = app
        self.token = token
        self.port_ref = port_ref  # [port], filled in once the server is bound (port 0 = any free port)
        self.allowed_hosts = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + \
                    [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        refusal = self.check(scope)
        if refusal is not None:
            status, message = refusal
            return await _respond(send_with_headers, status, message)
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            receive, refusal = await self.check_body(scope, receive)
            if refusal is not None:
                return await _respond(send_with_headers, *refusal)
        return await self.app(scope, receive, send_with_headers)

    def headers(self, scope) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in scope.get("headers", []):
            out.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        return out

    def host_ok(self, host_header: str) -> bool:
        host, port = split_host(host_header)
        if not host or (not is_loopback(host) and host not in self.allowed_hosts):
            return False
        return port == self.port_ref[0]

    def check(self, scope) -> tuple[int, str] | None:
        h = self.headers(scope)
        if not self.host_ok(h.get("host", "")):
            return 421, "this server answers only to its own loopback address (Host header refused)"
        origin = h.get("origin")
        if origin is not None:
            m = re.fullmatch(r"https?://(.+)", origin)
            if origin == "null" or m is None or not self.host_ok(m.group(1)):
                return 403, "cross-origin requests are refused"
        if h.get("sec-fetch-site") == "cross-site":
            return 403, "cross-site requests are refused"
        if PUBLIC_PATHS.fullmatch(scope["path"]):
            return None
        if not self.has_token(h):
            return 401, ("this needs the app's token: open the URL `rae app` printed, or send "
                         "Authorization: Bearer TOKEN")
        return None

    def has_token(self, h: dict[str, str]) -> bool:
        auth = h.get("authorization", "")
        if auth.startswith("Bearer ") and secrets.compare_digest(auth[7:].strip().encode(), self.token.encode()):
            return True
        for part in h.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and secrets.compare_digest(value.encode(), self.token.encode()):
                return True
        return False

    async def check_body(self, scope, receive):
        """(a receive that replays the read body, refusal or None)."""
        h = self.headers(scope)
        length = h.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return receive, (413, f"request bodies are limited to {MAX_BODY} bytes")
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                return receive, (413, f"request bodies are limited to {MAX_BODY} bytes")
        media = h.get("content-type", "").split(";")[0].strip().lower()
        if body and media != "application/json":
            return receive, (415, "request bodies must be application/json")
        if scope["method"] == "POST" and media != "application/json":
            return receive, (415, "POST requests must send Content-Type: application/json")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay, None


async def _respond(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
