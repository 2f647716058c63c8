"""Forwarding inbound SMS to webhooks: JSON, signed with HMAC-SHA256, retried until a 2xx.

The delivery row is written in the dispatch transaction; this sender only reads due rows,
POSTs them and records the outcome, so a crash at any point means "try again", and the
`id` in the payload lets the receiver drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

from smsd.clock import utcnow
from smsd.config import Config
from smsd.store import Store
from smsd.store.summaries import WebhookDue

log = logging.getLogger(__name__)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(row: WebhookDue) -> bytes:
    return json.dumps(
        {
            "id": row.id,
            "inbox_id": row.inbox_id,
            "forward": row.forward,
            "from": row.sender,
            "text": row.text,
            "received_at": row.received_at,
            "modem": row.modem,
            "command": row.command,
            "kind": row.kind,
        },
        ensure_ascii=False,
    ).encode()


def deliver_due(store: Store, cfg: Config, client: Any, now: datetime | None = None) -> int:
    """POST every due delivery once (client: an httpx.Client); returns how many were acknowledged."""
    import httpx

    now = now or utcnow()
    forwards = {f.name: f for f in cfg.forwards}
    done = 0
    for row in store.webhooks.due(now):
        forward = forwards.get(row.forward)
        if forward is None:
            store.webhooks.failed(row.id, "forward no longer in config.toml", 3600, now)
            continue
        body = payload(row)
        try:
            r = client.post(
                forward.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Smsd-Signature": sign(forward.secret, body),
                    "X-Smsd-Delivery": str(row.id),
                },
            )
            ok, why = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            ok, why = False, type(exc).__name__
        if ok:
            store.webhooks.done(row.id, now)
            done += 1
        else:
            store.webhooks.failed(row.id, why, cfg.http.webhook_backoff_s, now)
            log.warning("webhook.failed forward=%s delivery=%s reason=%s", forward.name, row.id, why)
    return done
