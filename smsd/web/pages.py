"""The console's pages: each calls the verbs of smsd.actions with the session's actor, exactly
as the CLI does. A verb's refusal (不在您的管辖范围) or a bad input raised here becomes the error
page, one line, by one handler (smsd.web.app), and nothing of another township is rendered."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from smsd import admin, lock, roster
from smsd import broadcast as bc
from smsd import template as tpl
from smsd.actions import accounts, broadcasts, campaigns, messages, polls, reports
from smsd.actions import roster as roster_verbs
from smsd.actions.sessions import Current
from smsd.clock import LOCAL, utcnow
from smsd.errors import InputError, NotAllowed
from smsd.export import SafeCsvWriter
from smsd.export import report_xlsx as export_xlsx
from smsd.i18n import _
from smsd.roles import Actor
from smsd.store import InboundMessage
from smsd.store.records import MemberRow
from smsd.web.frame import Web


def _fail(web: Web, request: Request, current: Current, token: str, exc: InputError) -> HTMLResponse:
    code = 403 if isinstance(exc, NotAllowed) else 422
    return web.render(request, "error.html", current, token, message=str(exc), code=code)


UPLOAD_HOURS = 24  # an upload never confirmed is removed after this


def _uploads(web: Web) -> Path:
    """Where an uploaded roster waits for its confirmation (readable by the daemon's user only)."""
    folder = web.cfg.database.parent / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    stale = time.time() - UPLOAD_HOURS * 3600
    for old in folder.iterdir():
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    return folder


def _act(web: Web, request: Request, csrf: str, do: Callable[[Actor], object], then: str) -> Response:
    """A form's action: the session and its CSRF token checked, one verb called as the actor, then
    the next page (a refusal raised by the verb is the error page: nothing changed)."""
    current, token = web.page(request)
    web.check_csrf(request, token, csrf)
    do(current.actor)
    web.notify()  # a verb that queued wakes the daemon; one that did not costs nothing
    return RedirectResponse(then, status_code=303)


def _named(name: str) -> str:
    if not name.strip():
        raise InputError("the name is empty", field="name")
    return name.strip()


def _asks_receipt(people: list[Any]) -> bool:
    """Did this campaign ask for receipts (QR)? Its texts say so."""
    return any("QR" in (m.text or "").upper() for m in people[:1])


def _download(path: Path, name: str) -> Response:
    """A file the browser saves under name; it is removed once sent."""
    return FileResponse(path, filename=name, background=BackgroundTask(path.unlink, missing_ok=True))


def routes(router: APIRouter, web: Web) -> None:  # noqa: C901 - one page a function, listed here
    @router.get("/")
    def overview(request: Request) -> Response:
        current, token = web.page(request)
        me, store = current.actor, web.store
        status = admin.status(store, web.cfg)
        month = utcnow().astimezone(LOCAL).strftime("%Y-%m")
        cost = reports.cost(store, "org", date_from=f"{month}-01", date_to=None, org=None, actor=me)
        budgets = [(b, spent) for b, spent in reports.budgets(store, me) if b.month == month]
        waiting = [a for a in broadcasts.waiting(store, me) if a.author != me.login] if me.may("approve") else []
        return web.render(
            request,
            "overview.html",
            current,
            token,
            status=status,
            running=lock.running(web.cfg.database) is not None,
            cost=cost,
            budgets=budgets,
            waiting=waiting,
            month=month,
        )

    @router.post("/approvals/{approval_id}/{decision}")
    def decide(
        request: Request, approval_id: int, decision: str, reason: str = Form(""), csrf: str = Form("")
    ) -> Response:
        def do(me: Actor) -> None:
            if decision == "approve":
                broadcasts.approve(web.store, web.cfg, approval_id, me)
            else:
                broadcasts.refuse(web.store, web.cfg, approval_id, reason, me)

        return _act(web, request, csrf, do, "/ui/")

    # ------------------------------------------------------------------ 发通知

    def _notices() -> list[Any]:
        """The templates an office sends as notices (replies to members are not among them)."""
        found = tpl.load_all(web.cfg.templates_dir)
        return [t for name, t in sorted(found.items()) if not name.startswith(("reply_", "approval_", "login_"))]

    @router.get("/send")
    def send_form(request: Request) -> Response:
        current, token = web.page(request)
        units = roster_verbs.org_units(web.store, current.actor)
        return web.render(
            request, "send.html", current, token, units=units, form={}, plan=None, message="", templates=_notices()
        )

    @router.post("/send")
    def send(
        request: Request,
        orgs: list[str] = Form(default=[]),
        groups: str = Form(""),
        numbers: str = Form(""),
        names: str = Form(""),
        text: str = Form(""),
        template: str = Form(""),
        variables: str = Form(""),
        at: str = Form(""),
        at_pick: str = Form(""),
        confirm_receipt: str = Form(""),
        step: str = Form("preview"),
        csrf: str = Form(""),
    ) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        if at_pick and not at.strip():  # the picker's 2026-12-03T08:00 is the form the CLI reads too
            at = at_pick.replace("T", " ")
        form = {
            "at_pick": at_pick,
            "orgs": orgs,
            "groups": groups,
            "numbers": numbers,
            "names": names,
            "text": text,
            "template": template,
            "variables": variables,
            "at": at,
            "confirm": confirm_receipt,
        }
        units = roster_verbs.org_units(web.store, current.actor)
        notices = _notices()
        try:
            values = {}
            for line in variables.splitlines():
                if line.strip():
                    key, sep, value = line.partition("=")
                    if not sep:
                        raise InputError("{line!r}: write a variable as NAME=VALUE", field="variables", line=line)
                    values[key.strip()] = value.strip()
            picked = _by_name(names, current.actor)
            asked = broadcasts.Asked(
                orgs=tuple(o for o in orgs if o),
                groups=tuple(g for g in groups.replace("，", ",").split(",") if g.strip()),
                numbers=(tuple(bc.numbers_in(numbers, _("pasted numbers"))) if numbers.strip() else ()) + picked,
                text=None if template else (text or None),
                template=template or None,
                variables=values,
                at=at.strip() or None,
                confirm=bool(confirm_receipt),
            )
            planned = broadcasts.plan(web.store, web.cfg, asked, current.actor)
            if step != "confirm":
                summary = planned.summary()
                summary["budget"] = bc.budget_figures(web.store, planned)
                waits = bool(broadcasts.approval_rules(web.cfg, current.actor, planned))
                return web.render(request, "send.html", current, token, units=units, form=form, plan=summary,
                                  waits=waits, message="", templates=notices)  # fmt: skip
            started = broadcasts.start(web.store, web.cfg, asked, current.actor, planned=planned)
        except InputError as exc:
            code = 403 if isinstance(exc, NotAllowed) else 422
            return web.render(request, "send.html", current, token, units=units, form=form, plan=None,
                              message=str(exc), code=code, templates=notices)  # fmt: skip
        web.notify()
        if started.campaign_id is not None:
            return RedirectResponse(f"/ui/campaigns/{started.campaign_id}", status_code=303)
        return RedirectResponse(f"/ui/approvals/{started.approval_id}", status_code=303)

    def _by_name(names: str, actor: Any) -> tuple[str, ...]:
        """Members named in the form (comma-separated), within the actor's part: their numbers."""
        wanted = [n.strip() for n in names.replace("，", ",").replace("、", ",").split(",") if n.strip()]
        if not wanted:
            return ()
        mine = roster_verbs.members(web.store, (), (), None, actor)
        out = []
        for name in wanted:
            found = [m.phone for m in mine if m.name == name]
            if not found:
                raise InputError("no member named {name} in your part of the organisation", field="names", name=name)
            out += found
        return tuple(out)

    @router.get("/approvals/{approval_id}")
    def approval(request: Request, approval_id: int) -> Response:
        current, token = web.page(request)
        found = broadcasts.show(web.store, approval_id, current.actor)
        return web.render(request, "approval.html", current, token, a=found)

    # ------------------------------------------------------------------ 任务

    @router.get("/campaigns")
    def campaign_list(request: Request) -> Response:
        current, token = web.page(request)
        found = campaigns.recent(web.store, current.actor)
        return web.render(request, "campaigns.html", current, token, campaigns=found)

    def _campaign(request: Request, campaign_id: int, name: str) -> Response:
        current, token = web.page(request)
        found = campaigns.status(web.store, web.cfg, campaign_id, current.actor)
        people = campaigns.recipients(web.store, campaign_id, current.actor)
        receipts = campaigns.receipts(web.store, campaign_id, current.actor) if found.campaign.kind else None
        states = found.progress.states
        total = states.total or 1
        done = total - states.open
        return web.render(
            request,
            name,
            current,
            token,
            c=found.campaign,
            progress=found.progress,
            eta=found.eta,
            percent=round(100 * done / total),
            recipients=people,
            receipts=receipts
            if receipts and (receipts.confirmed or receipts.pending) and _asks_receipt(people)
            else None,
        )

    @router.get("/campaigns/{campaign_id}")
    def campaign(request: Request, campaign_id: int) -> Response:
        return _campaign(request, campaign_id, "campaign.html")

    @router.post("/campaigns/{campaign_id}/{action}")
    def campaign_action(request: Request, campaign_id: int, action: str, csrf: str = Form("")) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        if action not in ("pause", "resume", "cancel", "remind", "retry"):
            return _fail(web, request, current, token, InputError("unknown action {a!r}", a=action))
        if action == "remind":
            campaigns.remind(web.store, web.cfg, campaign_id, actor=current.actor)
        elif action == "retry":
            for m in campaigns.recipients(web.store, campaign_id, current.actor):
                if m.state in ("failed", "expired"):
                    messages.retry(web.store, web.cfg, m.id, current.actor)
        else:
            campaigns.transition(web.store, campaign_id, action, current.actor)
        web.notify()
        return RedirectResponse(f"/ui/campaigns/{campaign_id}", status_code=303)

    @router.get("/messages/{message_id}")
    def message(request: Request, message_id: int) -> Response:
        current, token = web.page(request)
        view = messages.show(web.store, message_id, current.actor)
        return web.render(request, "message.html", current, token, m=view)

    # ------------------------------------------------------------------ 收件箱, 投票, 红段子

    @router.get("/inbox")
    def inbox(request: Request, kind: str = "") -> Response:
        current, token = web.page(request)
        if kind == "flagged":
            flagged = messages.inbox(web.store, "flagged", actor=current.actor)
            return web.render(request, "flagged.html", current, token, rows=flagged, kind=kind)
        found = [
            r
            for r in messages.inbox(web.store, "recent", limit=500, actor=current.actor)
            if isinstance(r, InboundMessage)
            and (not kind or (r.command or ("unhandled" if r.kind != "command" else "")) == kind)
        ][:200]
        unread = {
            f.id
            for f in messages.inbox(web.store, "feedback", unread=True, limit=500, actor=current.actor)
            if hasattr(f, "id")
        }
        who = {}
        for r in found:
            member_id = getattr(r, "member_id", None)
            if member_id and member_id not in who:
                with contextlib.suppress(InputError):  # removed since, or outside: shown without a name
                    who[member_id] = roster_verbs.member(web.store, str(member_id), current.actor)
        return web.render(request, "inbox.html", current, token, rows=found, who=who, kind=kind, unread=unread)

    @router.post("/inbox/{inbox_id}/read")
    def inbox_read(request: Request, inbox_id: int, csrf: str = Form("")) -> Response:
        return _act(
            web, request, csrf, lambda me: messages.mark_read(web.store, inbox_id, me), "/ui/inbox?kind=feedback"
        )

    @router.get("/polls")
    def poll_list(request: Request) -> Response:
        current, token = web.page(request)
        return web.render(request, "polls.html", current, token, polls=polls.polls(web.store, current.actor))

    @router.get("/polls/new")
    def poll_form(request: Request) -> Response:
        current, token = web.page(request)
        units = roster_verbs.org_units(web.store, current.actor)
        return web.render(request, "poll_new.html", current, token, units=units, form={}, plan=None, message="")

    @router.post("/polls/new")
    def poll_create(
        request: Request,
        question: str = Form(""),
        options: str = Form(""),
        orgs: list[str] = Form(default=[]),
        closes: str = Form(""),
        invite: str = Form(""),
        step: str = Form("preview"),
        csrf: str = Form(""),
    ) -> Response:
        """A poll among members of my part; with invitations, their dry run first, as the CLI's."""
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        form = {"question": question, "options": options, "orgs": orgs, "closes": closes, "invite": invite}
        units = roster_verbs.org_units(web.store, current.actor)
        shown: dict[str, Any] = {}

        class Stop(Exception):
            pass

        def review(plan: bc.Plan) -> None:
            shown["plan"] = plan.summary()
            if step != "confirm":
                raise Stop()

        try:
            pid, _cid = polls.create(
                web.store,
                web.cfg,
                question=question,
                options=[o.strip() for o in options.splitlines() if o.strip()],
                orgs=tuple(o for o in orgs if o),
                closes=closes,
                invite=bool(invite),
                review=review,
                actor=current.actor,
            )
        except Stop:
            return web.render(request, "poll_new.html", current, token, units=units, form=form, plan=shown["plan"],
                              message="")  # fmt: skip
        except InputError as exc:
            code = 403 if isinstance(exc, NotAllowed) else 422
            return web.render(request, "poll_new.html", current, token, units=units, form=form, plan=None,
                              message=str(exc), code=code)  # fmt: skip
        web.notify()
        return RedirectResponse(f"/ui/polls/{pid}", status_code=303)

    @router.get("/polls/{poll_id}")
    def poll(request: Request, poll_id: int) -> Response:
        current, token = web.page(request)
        results = polls.results(web.store, poll_id, current.actor)
        return web.render(request, "poll.html", current, token, r=results, poll_id=poll_id)

    @router.get("/red")
    def red(request: Request) -> Response:
        current, token = web.page(request)
        rows = polls.red_submissions(web.store, None, current.actor)
        return web.render(request, "red.html", current, token, rows=rows)

    @router.post("/red/open")
    def red_open(request: Request, name: str = Form(""), csrf: str = Form("")) -> Response:
        return _act(web, request, csrf, lambda me: polls.open_red(web.store, _named(name), 140, me), "/ui/red")

    @router.post("/red/{submission_id}/{decision}")
    def red_review(
        request: Request, submission_id: int, decision: str, reason: str = Form(""), csrf: str = Form("")
    ) -> Response:
        def do(me: Actor) -> object:
            approve = decision == "approve"
            return polls.review_red(web.store, web.cfg, submission_id, approve=approve, reason=reason, actor=me)

        return _act(web, request, csrf, do, "/ui/red")

    # ------------------------------------------------------------------ 通讯录

    @router.get("/members")
    def members(request: Request, org: str = "", q: str = "", group: str = "") -> Response:
        current, token = web.page(request)
        found = roster_verbs.members(web.store, (org,) if org else (), (group,) if group else (), 2000, current.actor)
        if q:
            found = [m for m in found if q in m.name or q in m.phone]
        units = roster_verbs.org_units(web.store, current.actor)
        return web.render(
            request, "members.html", current, token, members=found, units=units, org=org, q=q, group=group
        )

    @router.get("/members/{member_id:int}")
    def member_form(request: Request, member_id: int) -> Response:
        current, token = web.page(request)
        found = roster_verbs.member(web.store, str(member_id), current.actor)
        units = roster_verbs.org_units(web.store, current.actor)
        return web.render(request, "member.html", current, token, m=found, units=units)

    @router.post("/members/{member_id:int}")
    def member_save(
        request: Request,
        member_id: int,
        name: str = Form(""),
        org: str = Form(""),
        tags: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        """An edit is an import of one row (the same checks, scope and audit as an upload)."""
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        found = roster_verbs.member(web.store, str(member_id), current.actor)
        if not name.strip():
            raise InputError("the name is empty", field="name")
        row = MemberRow(
            0,
            name.strip(),
            found.phone,
            org,
            [t.strip() for t in tags.replace("，", ",").split(",") if t.strip()],
            found.joined,
        )
        roster_verbs.import_rows(web.store, [row], current.actor)
        return RedirectResponse("/ui/members", status_code=303)

    @router.get("/members/upload")
    def upload_form(request: Request) -> Response:
        current, token = web.page(request)
        return web.render(request, "upload.html", current, token, result=None, upload="", message="", bad=[])

    @router.post("/members/upload")
    def upload(request: Request, file: UploadFile = File(...), csrf: str = Form("")) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        suffix = Path(file.filename or "roster.xlsx").suffix.lower()
        if suffix not in (".xlsx", ".csv", ".xls"):
            suffix = ".xlsx"
        upload = secrets.token_hex(12)
        path = _uploads(web) / f"{current.actor.login}-{upload}{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        return _preview(request, current, token, path, upload)

    def _preview(request: Request, current: Current, token: str, path: Path, upload: str) -> Response:
        try:
            result = roster.read(path, under=current.actor.scope or None)
        except InputError as exc:
            path.unlink(missing_ok=True)
            return web.render(request, "upload.html", current, token, result=None, upload="", message=str(exc), bad=[])
        bad = [r for r in result.rows if not current.actor.covers(r.org)]
        return web.render(request, "upload.html", current, token, result=result, upload=upload, message="", bad=bad)

    @router.post("/members/import")
    def import_members(request: Request, upload: str = Form(""), csrf: str = Form("")) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        found = [p for p in _uploads(web).glob(f"{current.actor.login}-{upload}.*")] if upload.isalnum() else []
        if not found:
            return _fail(web, request, current, token, InputError("this upload has expired; upload the file again"))
        path = found[0]
        try:  # a refusal is the error page (one handler for every page); the upload goes either way
            result = roster.read(path, under=current.actor.scope or None)
            if result.errors:
                raise InputError(
                    "{path}: {errors_count} bad row(s); nothing imported (fix them, or add --skip-invalid)",
                    path=Path(path).name,
                    errors_count=len(result.errors),
                )
            added, updated = roster_verbs.import_rows(web.store, result.rows, current.actor)
        finally:
            path.unlink(missing_ok=True)
        return web.render(request, "imported.html", current, token, added=added, updated=updated, n=len(result.rows))

    @router.post("/inbox/{inbox_id}/reply")
    def reply(request: Request, inbox_id: int, text: str = Form(""), csrf: str = Form("")) -> Response:
        """A reply to a member's SMS: the same verb as `smsd send`, within the account's part."""
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        recent = messages.inbox(web.store, "recent", limit=500, actor=current.actor)
        found = [r for r in recent if isinstance(r, InboundMessage) and r.id == inbox_id]
        if not found:
            raise NotAllowed(
                "{what} is outside your part of the organisation ({scope})",
                field="id",
                what=f"#{inbox_id}",
                scope=current.actor.scope,
            )
        messages.send(web.store, web.cfg, found[0].sender, text, actor=current.actor)
        web.notify()
        return RedirectResponse("/ui/inbox?replied=1", status_code=303)

    @router.get("/members/template.xlsx")
    def members_template(request: Request) -> Response:
        current, _token = web.page(request)
        path = _uploads(web) / f"template-{secrets.token_hex(6)}.xlsx"
        roster.write_template(path)
        return _download(path, _("roster template") + ".xlsx")

    @router.get("/members/export.xlsx")
    def members_export(request: Request, org: str = "") -> Response:
        current, token = web.page(request)
        path = _uploads(web) / f"export-{secrets.token_hex(6)}.xlsx"
        try:
            roster_verbs.export(web.store, path, (org,) if org else (), (), current.actor)
        except InputError as exc:
            path.unlink(missing_ok=True)
            return _fail(web, request, current, token, exc)
        return _download(path, _("roster") + ".xlsx")

    @router.post("/members/{member_id}/remove")
    def member_remove(request: Request, member_id: int, csrf: str = Form("")) -> Response:
        return _act(web, request, csrf, lambda me: roster_verbs.remove(web.store, str(member_id), me), "/ui/members")

    @router.post("/polls/{poll_id}/close")
    def poll_close(request: Request, poll_id: int, csrf: str = Form("")) -> Response:
        return _act(web, request, csrf, lambda me: polls.close(web.store, poll_id, me), f"/ui/polls/{poll_id}")

    @router.get("/red/export.csv")
    def red_export(request: Request) -> Response:
        current, token = web.page(request)
        rows = polls.export_red(web.store, None, current.actor)
        path = _uploads(web) / f"red-{secrets.token_hex(6)}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as out:
            w = SafeCsvWriter(out)
            w.writerow([_("ID"), _("Campaign"), _("Name"), _("Org unit"), _("Text"), _("Submitted")])
            fields = ("id", "campaign", "name", "org", "text", "submitted_at")
            w.writerows([r.get(f) for f in fields] for r in rows)
        return _download(path, _("red messages") + ".csv")

    # ------------------------------------------------------------------ 报表, 预算, 账户, 审计

    @router.get("/reports/cost.csv")
    def report_csv(request: Request, by: str = "org") -> Response:
        current, token = web.page(request)
        found = reports.cost(web.store, by, date_from=None, date_to=None, org=None, actor=current.actor)
        path = _uploads(web) / f"cost-{secrets.token_hex(6)}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as out:
            w = SafeCsvWriter(out)
            w.writerow([_("Group"), _("Name"), _("Segments"), _("Fen"), _("Yuan")])
            w.writerows([r.key, r.name, r.segments, r.fen, f"{r.fen / 100:.2f}"] for r in found.rows)
            w.writerow([_("Total"), "", found.total.segments, found.total.fen, f"{found.total.fen / 100:.2f}"])
        return _download(path, _("cost") + f"-{by}.csv")

    @router.get("/reports/cost.xlsx")
    def report_xlsx(request: Request, by: str = "org") -> Response:
        """The cost report as Excel (numbers as numbers, yuan with two decimals: SUM works)."""
        current, token = web.page(request)
        found = reports.cost(web.store, by, date_from=None, date_to=None, org=None, actor=current.actor)
        path = _uploads(web) / f"cost-{secrets.token_hex(6)}.xlsx"
        rows = [
            {"key": r.key, "name": r.name, "segments": r.segments, "fen": r.fen, "yuan": r.fen / 100}
            for r in found.rows
        ]
        total = found.total
        rows.append(
            {"key": _("Total"), "name": "", "segments": total.segments, "fen": total.fen, "yuan": total.fen / 100}
        )
        headers = [
            ("key", _("Group")),
            ("name", _("Name")),
            ("segments", _("Segments")),
            ("fen", _("Fen")),
            ("yuan", _("Yuan")),
        ]
        export_xlsx(str(path), _("cost"), headers, rows, money=frozenset({"yuan"}))
        return _download(path, _("cost") + f"-{by}.xlsx")

    @router.get("/budgets")
    def budgets(request: Request) -> Response:
        current, token = web.page(request)
        units = roster_verbs.org_units(web.store, current.actor)
        month = utcnow().astimezone(LOCAL).strftime("%Y-%m")
        found = reports.budgets(web.store, current.actor)
        return web.render(request, "budgets.html", current, token, budgets=found, units=units, month=month, message="")

    @router.post("/budgets")
    def budget_set(
        request: Request, org: str = Form(""), month: str = Form(""), yuan: str = Form(""), csrf: str = Form("")
    ) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        try:
            fen = round(float(yuan) * 100)
            if fen < 0:
                raise ValueError
        except ValueError:
            return _fail(web, request, current, token, InputError("{v!r} is not an amount of yuan", v=yuan))
        reports.set_budget(web.store, org, month, fen, current.actor)
        return RedirectResponse("/ui/budgets", status_code=303)

    @router.get("/reports")
    def report(request: Request, by: str = "org") -> Response:
        current, token = web.page(request)
        by = by if by in ("org", "month", "campaign", "account") else "org"
        found = reports.cost(web.store, by, date_from=None, date_to=None, org=None, actor=current.actor)
        top = max((r.fen for r in found.rows), default=0) or 1
        delivery = (
            reports.delivery(web.store, "modem", date_from=None, date_to=None, actor=current.actor)
            if not current.actor.scope
            else []
        )
        return web.render(request, "reports.html", current, token, report=found, by=by, top=top, delivery=delivery)

    @router.get("/reports/messages.csv")
    def archive_csv(request: Request) -> Response:
        """The message archive of my part (the CLI's `report messages --csv`), as a download."""
        current, token = web.page(request)
        path = _uploads(web) / f"archive-{secrets.token_hex(6)}.csv"
        try:
            rows = reports.archive(
                web.store, date_from=None, date_to=None, org=None, campaign=None, actor=current.actor
            )
            with path.open("w", newline="", encoding="utf-8-sig") as out:
                w = SafeCsvWriter(out)
                w.writerow([_("ID"), _("Number"), _("Member name"), _("Sent"), _("Delivered"), _("State"),
                            _("Segments"), _("Fen"), _("Text")])  # fmt: skip
                w.writerows(
                    [r.id, r.to_number, r.name, r.sent_at, r.delivered_at, r.state, r.segments, r.cost_fen, r.text]
                    for r in rows
                )
        except InputError as exc:
            path.unlink(missing_ok=True)
            return _fail(web, request, current, token, exc)
        return _download(path, _("messages") + ".csv")

    @router.get("/accounts")
    def account_list(request: Request) -> Response:
        current, token = web.page(request)
        found = accounts.users(web.store, current.actor)
        return web.render(request, "accounts.html", current, token, accounts=found, shown=None)

    @router.post("/accounts")
    def account_add(
        request: Request,
        login: str = Form(""),
        name: str = Form(""),
        role: str = Form("operator"),
        scope: str = Form(""),
        phone: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        """A new account; its one-time password is shown on this page once."""
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        added, initial = accounts.add(
            web.store, web.cfg, current.actor, login.strip(), name=name.strip(), role=role, scope=scope,
            phone=phone.strip() or None,
        )  # fmt: skip
        found = accounts.users(web.store, current.actor)
        return web.render(request, "accounts.html", current, token, accounts=found, shown=(added.login, initial))

    @router.post("/accounts/{login}/{action}")
    def account_action(request: Request, login: str, action: str, csrf: str = Form("")) -> Response:
        current, token = web.page(request)
        web.check_csrf(request, token, csrf)
        shown = None
        if action in ("enable", "disable"):
            accounts.set_enabled(web.store, current.actor, login, action == "enable")
        elif action == "unlock":
            accounts.unlock(web.store, current.actor, login)
        elif action == "reset-password":
            shown = (login, accounts.reset_password(web.store, current.actor, login))
        else:
            raise InputError("unknown action {a!r}", a=action)
        found = accounts.users(web.store, current.actor)
        return web.render(request, "accounts.html", current, token, accounts=found, shown=shown)

    @router.get("/audit")
    def audit(request: Request) -> Response:
        current, token = web.page(request)
        found = accounts.audit_trail(web.store, current.actor, since=utcnow() - timedelta(days=30), limit=500)
        return web.render(request, "audit.html", current, token, entries=found)
