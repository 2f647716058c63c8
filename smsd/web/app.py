"""The console on the HTTP server's app: its static files, security headers, the login pages
(smsd.web.frame has what every page shares; smsd.web.pages the pages).

A session is the token of smsd.actions.sessions in an HttpOnly, SameSite=Strict cookie (Secure
under TLS); every request checks it again (idle and absolute timeouts, a disabled or locked
account). Every POST carries the session's CSRF token (a form field or the X-CSRF-Token header
of htmx), and a login form's POST must come from this origin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from smsd.actions import accounts, sessions
from smsd.config import Config
from smsd.errors import BudgetError, InputError, NotAllowed
from smsd.i18n import _
from smsd.store import Store
from smsd.web import pages
from smsd.web.frame import COOKIE, CSP, HERE, Forbidden, LoginNeeded, Web, same_origin, set_session, templates


def mount(app: FastAPI, cfg: Config, store_of: Callable[[], Store], notify: Callable[[], None]) -> None:
    """The console at /ui/ on this app: its static files, its login pages, its pages."""
    web = Web(cfg, store_of, templates(), notify)
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

    # A verb's refusal (不在您的管辖范围) or a bad input on a page is the error page, one line, with
    # nothing of what was refused: one handler for every page; the API keeps its JSON answers.
    for kind in (InputError, NotAllowed, BudgetError):
        api_answer = app.exception_handlers.get(kind)

        async def refused(request: Request, exc: Exception, api_answer: Any = api_answer) -> Response:
            if not request.url.path.startswith("/ui") and api_answer is not None:
                return await api_answer(request, exc)  # type: ignore[no-any-return]
            try:
                current, token = web.session(request)
            except LoginNeeded:
                current, token = None, ""
            code = 403 if isinstance(exc, NotAllowed) else 422
            return web.render(request, "error.html", current, token, code=code, message=str(exc))

        app.add_exception_handler(kind, refused)

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
