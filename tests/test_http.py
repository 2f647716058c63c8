"""The HTTP API on loopback: JSON under /v1, the Kannel door, webhooks, and refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from click.testing import CliRunner

from smsd import config
from smsd.cli import main
from smsd.http.server import HttpServer
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from smsd.store import group as store_group
from tests.conftest import wait_for, write_config
from tests.test_cli_errors import snapshot

TOKEN = "tok-edu-3f9a2c"
OTHER = "tok-web-77aa10"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_config(tmp_path, ports, port, forwards=""):
    path = write_config(tmp_path, ports)
    sha = hashlib.sha256(TOKEN.encode()).hexdigest()
    sha2 = hashlib.sha256(OTHER.encode()).hexdigest()
    path.write_text(
        path.read_text()
        + f"""
[http]
enabled = true
port = {port}
max_body_bytes = 4096
webhook_backoff_s = 0.2
[http.clients.edu]
token_sha256 = "{sha}"
org = "大渡口区"
rate_per_minute = 600
kannel_username = "playsms"
inbound = "*"
[http.clients.web]
token_sha256 = "{sha2}"
rate_per_minute = 3
{forwards}"""
    )
    return path


def sent(emu) -> list[dict]:
    out = []
    for m in emu.modems.values():
        if m.sent_log.exists():
            out += [json.loads(x) for x in m.sent_log.read_text().splitlines()]
    return out


@pytest.fixture
def api(tmp_path, make_emulator, daemon):
    emu = make_emulator(ModemOptions("m1"), ModemOptions("m2"))
    port = free_port()
    cfg = http_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()}, port)
    daemon(cfg)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        yield emu, c, base, tmp_path


def test_send_idempotent_retry_status_batch_and_inbound_cursor(api):
    emu, c, _, tmp_path = api
    first = c.post(
        "/v1/messages",
        json={"to": "13800138000", "text": "远程教育平台：课程明天开课"},
        headers={"Idempotency-Key": "order-1"},
    )
    assert first.status_code == 201, first.text
    again = c.post(
        "/v1/messages",
        json={"to": "13800138000", "text": "远程教育平台：课程明天开课"},
        headers={"Idempotency-Key": "order-1"},
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    mid = first.json()["id"]
    # Polled at 5/s: the client's limit is 600 requests a minute, and a 429 has no state.
    wait_for(
        lambda: c.get(f"/v1/messages/{mid}").json().get("state") in ("sent", "delivered"), timeout=20, interval=0.2
    )
    view = c.get(f"/v1/messages/{mid}").json()
    assert view["cost_fen"] == 6 and view["parts"][0]["modem"] in ("m1", "m2")
    assert [r["text"] for r in sent(emu)].count("远程教育平台：课程明天开课") == 1  # the retry sent nothing
    batch = c.post(
        "/v1/messages/batch",
        json={"messages": [{"to": f"1380013800{i}", "text": f"批量{i}"} for i in range(1, 4)]},
        headers={"Idempotency-Key": "b1"},
    )
    assert batch.status_code == 201 and len(batch.json()["messages"]) == 3
    c.post(
        "/v1/messages/batch",
        json={"messages": [{"to": f"1380013800{i}", "text": f"批量{i}"} for i in range(1, 4)]},
        headers={"Idempotency-Key": "b1"},
    )
    wait_for(lambda: sum(r["text"].startswith("批量") for r in sent(emu)) >= 3, timeout=20)
    assert sum(r["text"].startswith("批量") for r in sent(emu)) == 3
    other = httpx.get(f"{c.base_url}/v1/messages/{mid}", headers={"Authorization": f"Bearer {OTHER}"})
    assert other.status_code == 404  # one client cannot read another's messages
    emu["m1"].deliver("+8613900000001", "家长您好，收到")
    emu["m2"].deliver("+8613900000002", "YJ 课程很好")
    wait_for(lambda: len(c.get("/v1/inbound").json().get("messages", [])) == 2, timeout=20, interval=0.2)
    page = c.get("/v1/inbound", params={"since": 0, "limit": 1}).json()
    rest = c.get("/v1/inbound", params={"since": page["next_cursor"]}).json()
    texts = [m["text"] for m in page["messages"] + rest["messages"]]  # two modems: either may store first
    assert sorted(texts) == sorted(["家长您好，收到", "YJ 课程很好"]) and len(page["messages"]) == 1
    assert c.get("/v1/inbound", params={"since": rest["next_cursor"]}).json()["messages"] == []
    with Store(tmp_path / "smsd.db") as store:
        events = [e for e in store.events(limit=100) if e.entity == "http"]
    assert {e.actor for e in events} == {"api:edu"} and len(events) >= 6  # refusals write nothing


def test_unmodified_kannel_clients(api):
    emu, _, base, _ = api
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-w",
                " %{http_code}",
                f"{base}/cgi-bin/sendsms?username=playsms&password={TOKEN}&to=%2B8613800138011&text=Hello+from+curl",
            ],
            capture_output=True,
            text=True,
        )
        assert out.stdout == "0: Accepted for delivery 202"
    # playSMS's Kannel gateway: GET with UTF-8 text, from, dlr-mask and dlr-url
    r = httpx.get(
        f"{base}/cgi-bin/sendsms",
        params={
            "username": "playsms",
            "password": TOKEN,
            "from": "10690000",
            "to": "13800138012",
            "text": "playSMS 通知",
            "coding": "2",
            "charset": "UTF-8",
            "dlr-mask": "31",
            "dlr-url": "http://127.0.0.1/playsms/index.php",
        },
    )
    assert (r.status_code, r.text) == (202, "0: Accepted for delivery")
    # RapidSMS's Kannel backend: the text encoded as UTF-16BE with charset=UTF-16BE and coding=2
    text = "RapidSMS 消息"
    raw = "&".join(
        f"{k}={v}"
        for k, v in {
            "username": "playsms",
            "password": TOKEN,
            "to": "%2B8613800138013",
            "charset": "UTF-16BE",
            "coding": "2",
        }.items()
    )
    raw += "&text=" + "".join(f"%{b:02X}" for b in text.encode("utf-16-be"))
    r = httpx.get(f"{base}/cgi-bin/sendsms?{raw}")
    assert (r.status_code, r.text) == (202, "0: Accepted for delivery")
    bad = httpx.get(
        f"{base}/cgi-bin/sendsms", params={"username": "playsms", "password": "wrong", "to": "1", "text": "x"}
    )
    assert (bad.status_code, bad.text) == (403, "Authorization failed for sendsms")
    wait_for(
        lambda: (
            {"Hello from curl", "playSMS 通知", "RapidSMS 消息"} <= {r["text"] for r in sent(emu)}
            or (not curl and {"playSMS 通知", "RapidSMS 消息"} <= {r["text"] for r in sent(emu)})
        ),
        timeout=20,
    )


class Receiver(BaseHTTPRequestHandler):
    failures_left = 2
    got: list = []
    lock = threading.Lock()
    secret = b"hook-secret"

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Receiver.lock:
            if Receiver.failures_left > 0:
                Receiver.failures_left -= 1
                self.send_response(500)
                self.end_headers()
                return
            expected = "sha256=" + hmac.new(Receiver.secret, body, hashlib.sha256).hexdigest()
            Receiver.got.append((json.loads(body), hmac.compare_digest(expected, self.headers["X-Smsd-Signature"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_that_fails_twice_gets_each_message_once_signed(tmp_path, make_emulator, daemon):
    Receiver.failures_left, Receiver.got = 2, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emu = make_emulator(ModemOptions("m1"))
    forwards = f"""[http.forwards.desk]
keyword = "*"
url = "http://127.0.0.1:{server.server_address[1]}/hook"
secret = "hook-secret"
[http.forwards.votes]
keyword = "TP"
url = "http://127.0.0.1:{server.server_address[1]}/votes"
secret = "hook-secret"
"""
    cfg = http_config(tmp_path, {"m1": str(emu["m1"].link)}, free_port(), forwards)
    daemon(cfg)
    try:
        emu["m1"].deliver("+8613900000001", "你们的课程很好")
        emu["m1"].deliver("+8613900000002", "TP 2")
        emu["m1"].deliver("+8613900000003", "帮助")  # handled by a command: not forwarded to "*"
        wait_for(lambda: len(Receiver.got) >= 2, timeout=30)
        with Store(tmp_path / "smsd.db") as store:
            wait_for(lambda: all(w.pending == 0 for w in store.webhooks.status()), timeout=30)
        got = sorted((p["forward"], p["text"]) for p, _ in Receiver.got)
        assert got == [("desk", "你们的课程很好"), ("votes", "TP 2")]  # each exactly once, in the end
        assert all(ok for _, ok in Receiver.got)  # the signature verifies
        # Issue 12 item 15: `smsd status` (table and JSON) with the daemon running and webhooks configured
        table = CliRunner().invoke(main, ["status", "--config", str(cfg)])
        assert table.exit_code == 0, table.output
        assert "webhook desk: 1 delivered, 0 pending" in table.output and "queue:" in table.output
        data = json.loads(CliRunner().invoke(main, ["status", "--json", "--config", str(cfg)]).output)
        assert {w["forward"] for w in data["webhooks"]} == {"desk", "votes"}
    finally:
        server.shutdown()


@pytest.fixture
def bare_api(tmp_path):
    """The API in-process on its own database: for refusals, where nothing may change."""
    port = free_port()
    cfg = config.load(http_config(tmp_path, {"m1": "emulator"}, port))
    Store(cfg.database).close()
    server = HttpServer(cfg)
    server.start()
    yield f"http://127.0.0.1:{port}", cfg
    server.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAD = [
    ("no token", "POST", "/v1/messages", {}, {"to": "13800138000", "text": "x"}, 401, "Authorization"),
    (
        "wrong token",
        "POST",
        "/v1/messages",
        {"Authorization": "Bearer nope"},
        {"to": "13800138000", "text": "x"},
        401,
        "Authorization",
    ),
    (
        "basic auth",
        "POST",
        "/v1/messages",
        {"Authorization": "Basic ZWR1OnRvaw=="},
        {"to": "1", "text": "x"},
        401,
        "Authorization",
    ),
    ("malformed json", "POST", "/v1/messages", AUTH, b"{to: 1", 400, "body"),
    ("unknown field", "POST", "/v1/messages", AUTH, {"to": "13800138000", "text": "x", "from": "me"}, 422, "from"),
    ("missing text", "POST", "/v1/messages", AUTH, {"to": "13800138000"}, 422, "text"),
    ("empty text", "POST", "/v1/messages", AUTH, {"to": "13800138000", "text": ""}, 422, "text"),
    ("invalid number", "POST", "/v1/messages", AUTH, {"to": "12345", "text": "x"}, 422, "to"),
    ("landline", "POST", "/v1/messages", AUTH, {"to": "+862368888888", "text": "x"}, 422, "to"),
    (
        "priority too high",
        "POST",
        "/v1/messages",
        AUTH,
        {"to": "13800138000", "text": "x", "priority": 12},
        422,
        "priority",
    ),
    ("bad at", "POST", "/v1/messages", AUTH, {"to": "13800138000", "text": "x", "at": "tomorrow"}, 422, "at"),
    ("text too long", "POST", "/v1/messages", AUTH, {"to": "13800138000", "text": "长" * 1001}, 422, "text"),
    ("oversized body", "POST", "/v1/messages", AUTH, b"{" + b" " * 5000 + b"}", 413, "body"),
    ("wrong type", "POST", "/v1/messages", AUTH, {"to": 13800138000, "text": "x"}, 422, "to"),
    (
        "batch with one bad number",
        "POST",
        "/v1/messages/batch",
        AUTH,
        {"messages": [{"to": "13800138000", "text": "a"}, {"to": "999", "text": "b"}]},
        422,
        "messages.1.to",
    ),
    ("empty batch", "POST", "/v1/messages/batch", AUTH, {"messages": []}, 422, "messages"),
    ("unknown message", "GET", "/v1/messages/999", AUTH, None, 404, "message_id"),
    ("unknown campaign", "GET", "/v1/campaigns/999", AUTH, None, 404, "campaign_id"),
    ("negative cursor", "GET", "/v1/inbound?since=-1", AUTH, None, 422, "since"),
    ("unknown path", "GET", "/v1/nothing", AUTH, None, 404, "path"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_refusals_are_json_naming_the_field_and_change_nothing(bare_api, case):
    base, cfg = bare_api
    _, method, path, headers, body, status, field = case
    before = snapshot(cfg.database)
    kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
    if isinstance(body, bytes):
        headers = {**headers, "Content-Type": "application/json"}
    r = httpx.request(method, base + path, headers=headers, timeout=10, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["message"]
    assert snapshot(cfg.database) == before


def test_rate_limit_per_client(bare_api):
    base, cfg = bare_api
    h = {"Authorization": f"Bearer {OTHER}"}
    codes = [httpx.get(base + "/v1/messages/1", headers=h).status_code for _ in range(5)]
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]


def test_openapi_documents_every_route(bare_api):
    base, _ = bare_api
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    assert {
        "/v1/messages",
        "/v1/messages/batch",
        "/v1/messages/{message_id}",
        "/v1/campaigns/{campaign_id}",
        "/v1/inbound",
        "/cgi-bin/sendsms",
    } <= set(paths)


def test_an_idempotency_key_reused_for_another_body_is_409_and_single_and_batch_keys_differ(api):
    """Issue 12 item 11."""
    emu, c, _, _ = api
    first = c.post("/v1/messages", json={"to": "13800138000", "text": "第一条"}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 201
    other = c.post("/v1/messages", json={"to": "13800138000", "text": "第二条"}, headers={"Idempotency-Key": "k"})
    assert other.status_code == 409, other.text
    assert "138****8000" in other.text and "new key" in other.text
    again = c.post("/v1/messages", json={"to": "+8613800138000", "text": "第一条"}, headers={"Idempotency-Key": "k"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    single = c.post("/v1/messages", json={"to": "13800138001", "text": "单条"}, headers={"Idempotency-Key": "x:0"})
    batch = c.post(
        "/v1/messages/batch",
        json={"messages": [{"to": "13800138002", "text": "批量"}]},
        headers={"Idempotency-Key": "x"},
    )
    assert single.status_code == 201 and batch.status_code == 201, batch.text
    assert batch.json()["messages"][0]["id"] != single.json()["id"]
    grown = c.post(
        "/v1/messages/batch",
        json={"messages": [{"to": "13800138002", "text": "批量"}, {"to": "13800138003", "text": "批量"}]},
        headers={"Idempotency-Key": "x"},
    )
    assert grown.status_code == 409


# ------------------------------------------------------------------ issue 13: the HTTP door


def _chunks(total: int, size: int = 65536):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def raw_answer(base: str, *chunks: bytes) -> bytes:
    """Send these bytes as they are (a request the rest of which never comes); the first answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        return sock.recv(4096)


def test_an_unauthenticated_chunked_body_is_refused_before_it_is_read(bare_api):
    """A 64 MB chunked upload without a token: the answer comes after the first chunk, before
    the rest is sent (on main the body was read and parsed: daemon memory 93 -> 278 MB)."""
    base, _ = bare_api
    answer = raw_answer(
        base,
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"10000\r\n" + b"x" * 65536 + b"\r\n",  # 64 KB of 64 MB; the rest never comes
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]


def test_an_authenticated_chunked_body_over_the_limit_is_413(bare_api):
    base, cfg = bare_api
    try:
        r = httpx.post(base + "/v1/messages", content=_chunks(cfg.http.max_body_bytes * 4, 1024), headers=AUTH)
        assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    except httpx.TransportError:
        pass


def test_a_client_sees_only_its_own_messages_and_campaigns_and_granted_inbound(bare_api):
    base, cfg = bare_api
    with Store(cfg.database) as s:
        mid = s.outbox.enqueue("+8613800138000", "admin's own message")
        s.conn.execute(
            "INSERT INTO campaigns (name, created_by, created_at, updated_at) VALUES ('x', 'cli', 'now', 'now')"
        )
    other = {"Authorization": f"Bearer {OTHER}"}
    assert httpx.get(f"{base}/v1/messages/{mid}", headers=AUTH).status_code == 404
    assert httpx.get(f"{base}/v1/campaigns/1", headers=AUTH).status_code == 404
    r = httpx.get(f"{base}/v1/inbound", headers=other)
    assert r.status_code == 403 and r.json()["error"]["field"] == "client"


@pytest.mark.parametrize(
    "to",
    [
        "13800138000;13800138001",
        "13800138000 ext 5",
        "tel:13800138000",
        "-13800138000",
        "+1 650 253 0000",
        "+44 7700 900123",
    ],
)
def test_addresses_that_are_not_one_domestic_mobile_number_are_refused(bare_api, to):
    base, cfg = bare_api
    before = snapshot(cfg.database)
    r = httpx.post(base + "/v1/messages", json={"to": to, "text": "x"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "to", r.text
    assert snapshot(cfg.database) == before


@pytest.mark.parametrize("path", ["/v1/messages/12345678901234567890123", "/v1/inbound?since=12345678901234567890123"])
def test_huge_ids_and_cursors_are_422_not_500(bare_api, path):
    base, _ = bare_api
    r = httpx.get(base + path, headers=AUTH)
    assert r.status_code == 422 and "Traceback" not in r.text


def test_nul_only_text_is_refused(bare_api):
    base, _ = bare_api
    r = httpx.post(base + "/v1/messages", json={"to": "13800138000", "text": "\u0000\u0000"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "text"


def test_kannel_door_limits_recipients_and_counts_messages_against_the_rate(bare_api):
    base, cfg = bare_api
    many = " ".join(f"1380013{i:04d}" for i in range(1001))
    r = httpx.get(base + "/cgi-bin/sendsms", params={"username": "playsms", "password": TOKEN, "to": many, "text": "x"})
    assert r.status_code == 400 and "at most 1000" in r.text
    # the client may send 600 messages a minute: 601 numbers in one request exceed it
    six = " ".join(f"1380013{i:04d}" for i in range(601))
    r = httpx.get(base + "/cgi-bin/sendsms", params={"username": "playsms", "password": TOKEN, "to": six, "text": "x"})
    assert r.status_code == 503


def test_api_sends_respect_the_clients_org_budget(bare_api):
    base, cfg = bare_api
    month = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")
    with Store(cfg.database) as s:
        s.ledger.set_budget("大渡口区", month, 12, "test")  # two segments at 6 fen
    ok = [
        httpx.post(base + "/v1/messages", json={"to": "13800138000", "text": f"第{i}条"}, headers=AUTH) for i in (1, 2)
    ]
    assert [r.status_code for r in ok] == [201, 201]
    r = httpx.post(base + "/v1/messages", json={"to": "13800138000", "text": "第3条"}, headers=AUTH)
    assert r.status_code == 402 and "budget of 大渡口区" in r.json()["error"]["message"]
    k = httpx.get(
        base + "/cgi-bin/sendsms", params={"username": "playsms", "password": TOKEN, "to": "13800138001", "text": "x"}
    )
    assert k.status_code == 402


# ------------------------------------------------------------------ issue 22: the door, again


@pytest.mark.parametrize(
    "change",
    [{"at": "明天8点"}, {"priority": 9}, {"report": False}],
    ids=["at", "priority", "report"],
)
def test_an_idempotency_key_reused_with_any_other_option_is_409(bare_api, change):
    base, _ = bare_api
    body = {"to": "13800138000", "text": "同一条"}
    first = httpx.post(base + "/v1/messages", json=body, headers={**AUTH, "Idempotency-Key": "opt"})
    assert first.status_code == 201, first.text
    other = httpx.post(base + "/v1/messages", json={**body, **change}, headers={**AUTH, "Idempotency-Key": "opt"})
    assert other.status_code == 409 and other.json()["error"]["field"] == "Idempotency-Key", other.text
    same = httpx.post(base + "/v1/messages", json=body, headers={**AUTH, "Idempotency-Key": "opt"})
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]


def test_the_same_relative_time_with_the_same_key_is_the_same_request(bare_api):
    base, _ = bare_api
    body = {"to": "13800138000", "text": "明早开会", "at": "明天8点"}
    first = httpx.post(base + "/v1/messages", json=body, headers={**AUTH, "Idempotency-Key": "t"})
    again = httpx.post(base + "/v1/messages", json=body, headers={**AUTH, "Idempotency-Key": "t"})
    assert first.status_code == 201 and again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_a_far_future_at_is_422_not_500(bare_api):
    base, _ = bare_api
    r = httpx.post(
        base + "/v1/messages", json={"to": "13800138000", "text": "x", "at": "9999-12-31 23:59"}, headers=AUTH
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "at", r.text


def test_sendsms_without_credentials_is_refused_before_its_body_is_read(bare_api):
    """A POST to /cgi-bin/sendsms with no password in the query or X-Kannel headers: a body that
    is not a small form is refused at once (the body was read first, up to max_body_bytes)."""
    base, _ = bare_api
    answer = raw_answer(
        base,
        b"POST /cgi-bin/sendsms?to=13800138000 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 200000\r\n\r\n",
        b"x" * 1000,  # the rest never comes
    )
    assert answer.startswith(b"HTTP/1.1 403"), answer[:80]
    answer = raw_answer(
        base,
        b"POST /cgi-bin/sendsms HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 200000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]  # a form, but far larger than one with a password


def test_a_client_trickling_its_headers_is_cut_off(bare_api, monkeypatch):
    """Headers sent a byte at a time (each byte resetting uvicorn's keep-alive timer) no longer
    hold a connection open: it is closed when the headers are not in within HEADERS_S."""
    from smsd.http.timeouts import TimedH11Protocol

    monkeypatch.setattr(TimedH11Protocol, "headers_s", 0.5)
    base, _ = bare_api
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        closed = False
        for _ in range(200):  # a byte each 0.05 s for up to 10 s: the server closes long before
            try:
                sock.sendall(b"X")
                sock.settimeout(0.05)
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    assert closed


def test_four_clients_at_once_each_get_their_own_message_back(tmp_path):
    """Each answer shows the message it queued. A route once took the store its dependency had
    resolved on another thread of the pool, and a connection shared by two threads can read with
    the other's snapshot: 1 request in ~2,000 was told "no message with id N" about the message it
    had just queued (a client retrying it would send it twice). A Store now refuses a second thread."""
    port = free_port()
    cfg = config.load(http_config(tmp_path, {"m1": "emulator"}, port))
    Store(cfg.database).close()
    store_group.enable(cfg.database)  # as in the daemon
    server = HttpServer(cfg)
    server.start()
    answers: list[tuple[int, dict]] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as c:
            for i in range(100):
                r = c.post("/v1/messages", json={"to": f"1380000{k}{i:03d}", "text": f"通知 {k}-{i}"})
                answers.append((r.status_code, r.json()))

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
        store_group.disable(cfg.database)
    assert [code for code, _ in answers] == [201] * 400, [a for a in answers if a[0] != 201][:3]
    assert all(view["state"] == "queued" for _, view in answers)
    with Store(cfg.database) as store:
        assert store.outbox.queue_depth().queued == 400
        assert {view["to"] for _, view in answers} == {m.to_number for m in store.outbox.messages(limit=1000)}
