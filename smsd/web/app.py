"""The console's frame: templates (Jinja2, autoescaped, in the admin's language), the session
cookie, the CSRF token, security headers, and the login pages. The pages are smsd.web.pages.

A session is the token of smsd.actions.sessions in an HttpOnly, SameSite=Strict cookie (Secure
under TLS); every request checks it again (idle and absolute timeouts, a disabled or locked
account). Every POST carries the session's CSRF token (a form field or the X-CSRF-Token header
of htmx), and a login form's POST must come from this origin.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from smsd import notes
from smsd.actions import accounts, sessions
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


def _env() -> jinja2.Environment:
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
            current = sessions.current(self.store, self.cfg, token, source=source)
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


def mount(app: FastAPI, cfg: Config, store_of: Callable[[], Store], notify: Callable[[], None]) -> None:
    """The console at /ui/ on this app: its static files, its login pages, its pages."""
    from smsd.web import pages

    web = Web(cfg, store_of, _env(), notify)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="static")
    router = APIRouter(prefix="/ui", include_in_schema=False)
    _login_routes(router, web)
    pages.routes(router, web)
    app.include_router(router)

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
        if exc.back == "/ui/password":
            return RedirectResponse("/ui/password", status_code=303)
        return RedirectResponse(f"/ui/login?next={quote(exc.back)}&why={quote(exc.why)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        html = web.env.get_template("error.html").render(
            me=None, csrf="", path=request.url.path, message=_("this form has expired; open the page again")
        )
        return HTMLResponse(html, status_code=403)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/ui"):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers["Cache-Control"] = "no-store"
        return response


def _next(target: str | None) -> str:
    """Only a path of the console: never another site (an open redirect)."""
    return target if target and target.startswith("/ui/") and not target.startswith("//") else "/ui/"


def _login_routes(router: APIRouter, web: Web) -> None:
    @router.get("/login")
    def login_form(request: Request, next: str = "/ui/", why: str = "") -> Response:
        message = "" if why in ("", "change") else why
        return web.render(request, "login.html", None, next=_next(next), message=message, login="")

    @router.post("/login")
    def login(request: Request, login: str = Form(""), password: str = Form(""), next: str = Form("/ui/")) -> Response:
        if not same_origin(request):
            raise Forbidden()
        source = request.client.host if request.client else ""
        try:
            started = sessions.begin(web.store, web.cfg, login.strip(), password, via="web", source=source)
        except InputError as exc:
            return web.render(request, "login.html", None, next=_next(next), message=str(exc), login=login, code=401)
        if started.challenge:
            return web.render(request, "code.html", None, challenge=started.challenge, next=_next(next), message="")
        return _logged_in(request, started, next)

    @router.post("/login/code")
    def login_code(
        request: Request, challenge: str = Form(""), code: str = Form(""), next: str = Form("/ui/")
    ) -> Response:
        if not same_origin(request):
            raise Forbidden()
        source = request.client.host if request.client else ""
        try:
            started = sessions.confirm(web.store, web.cfg, challenge, code, via="web", source=source)
        except InputError as exc:
            return web.render(
                request, "code.html", None, challenge=challenge, next=_next(next), message=str(exc), code=401
            )
        return _logged_in(request, started, next)

    def _logged_in(request: Request, started: sessions.Started, next: str) -> Response:
        assert started.token is not None
        response = RedirectResponse("/ui/password" if started.must_change else _next(next), status_code=303)
        set_session(response, request, started.token)
        return response

    @router.get("/password")
    def password_form(request: Request) -> Response:
        current, token = web.page(request, allow_change=True)
        return web.render(request, "password.html", current, token, message="", forced=current.must_change)

    @router.post("/password")
    def password_change(
        request: Request, old: str = Form(""), new: str = Form(""), again: str = Form(""), csrf: str = Form("")
    ) -> Response:
        current, token = web.page(request, allow_change=True)
        web.check_csrf(request, token, csrf)
        try:
            if new != again:
                raise InputError("the two new passwords differ", field="password")
            accounts.change_password(web.store, web.cfg, current.actor.login, old, new, via="web")
        except InputError as exc:
            return web.render(
                request, "password.html", current, token, message=str(exc), forced=current.must_change, code=422
            )
        return RedirectResponse("/ui/", status_code=303)

    @router.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        current, token = web.session(request)
        web.check_csrf(request, token, csrf)
        sessions.end(web.store, token)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response
