"""What every page of the console shares: the templates (Jinja2, autoescaped, in the admin's
language), the session of a request, its CSRF token, and the two refusals (log in first; a form
without its token)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from smsd import notes
from smsd.actions import sessions
from smsd.actions.sessions import Current
from smsd.clock import local, ts
from smsd.config import Config
from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import mask
from smsd.store import Store

HERE = Path(__file__).parent
COOKIE = "smsd_session"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


class LoginNeeded(Exception):
    """No live session: the browser goes to the login page (and back afterwards)."""

    def __init__(self, back: str = "/ui/", why: str = "") -> None:
        super().__init__(why)
        self.back, self.why = back, why


class Forbidden(Exception):
    """A POST without its CSRF token, or from another origin."""


def csrf_of(token: str) -> str:
    """The session's CSRF token: derived from the session token, never stored."""
    return hmac.new(token.encode(), b"smsd-csrf", hashlib.sha256).hexdigest()[:32]


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    # {{ _("... {n} ...").format(n=x) }}: the catalogue's placeholders are str.format's, and
    # Markup.format escapes what it fills in
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_, ngettext=lambda s, p, n: _(s) if n == 1 else _(p), newstyle=True
    )
    env.filters["local"] = lambda v: local(v) if v else ""
    env.filters["state"] = notes.state
    env.filters["event"] = notes.event
    env.filters["note"] = notes.shown
    env.filters["yuan"] = lambda fen: f"{(fen or 0) / 100:.2f}"
    env.filters["role"] = lambda r: _(notes.ROLE_NAMES.get(str(r), str(r)))
    env.filters["masked"] = lambda n: mask(n) if n else ""
    env.filters["when"] = lambda dt: local(ts(dt)) if dt else ""
    env.filters["actor"] = notes.actor
    env.filters["via"] = lambda v: _(notes.VIAS[v]) if v in notes.VIAS else v
    env.filters["audit_action"] = lambda a: _(notes.ACTIONS[a]) if a in notes.ACTIONS else a
    env.filters["audit_result"] = lambda r: _(str(notes.RESULTS.get(r, r)))
    env.filters["audit_target"] = notes.target
    return env


@dataclass
class Web:
    """What the console's routes share: the config, the store of this thread, the templates."""

    cfg: Config
    store_of: Callable[[], Store]
    env: jinja2.Environment
    notify: Callable[[], None]

    @property
    def store(self) -> Store:
        return self.store_of()

    def session(self, request: Request) -> tuple[Current, str]:
        """The request's live session and its token, or LoginNeeded."""
        token = request.cookies.get(COOKIE, "")
        if not token:
            raise LoginNeeded(request.url.path)
        source = request.client.host if request.client else ""
        try:
            # a page that refreshes itself (htmx polling) is not the person at work: the idle
            # timeout still runs
            polling = request.headers.get("x-smsd-poll") == "1"
            current = sessions.current(self.store, self.cfg, token, source=source, touch=not polling)
        except InputError as exc:
            raise LoginNeeded(request.url.path, str(exc)) from None
        return current, token

    def page(self, request: Request, *, allow_change: bool = False) -> tuple[Current, str]:
        """A page's session; one whose password must change goes to the change first."""
        current, token = self.session(request)
        if current.must_change and not allow_change:
            raise LoginNeeded("/ui/password", "change")
        return current, token

    def check_csrf(self, request: Request, token: str, given: str | None) -> None:
        sent = given or request.headers.get("x-csrf-token", "")
        if not sent or not hmac.compare_digest(sent, csrf_of(token)):
            raise Forbidden()

    def render(
        self, request: Request, name: str, current: Current | None, token: str = "", code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(
            request=request,
            me=current.actor if current else None,
            csrf=csrf_of(token) if token else "",
            path=request.url.path,
            **ctx,
        )
        return HTMLResponse(html, status_code=code)


def same_origin(request: Request) -> bool:
    """Does a form's POST come from this console (Origin, else Referer, names this host)?"""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc == request.headers.get("host", "")


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui"
    )
