"""The database schema, as sqlite-utils migrations: append one, never edit an applied one."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("smsd")


def _script(db: Database, sql: str) -> None:
    """Run a migration's statements inside the migration's transaction, one at a time.

    sqlite-utils' executescript finds statement ends by asking SQLite after every character (a
    fresh database took 75 ms, most of it there); here the question is asked at line ends."""
    statement: list[str] = []
    for line in sql.splitlines(keepends=True):
        statement.append(line)
        text = "".join(statement)
        if sqlite3.complete_statement(text):
            try:
                db.conn.execute(text)
            except sqlite3.ProgrammingError:  # two statements on one line: let sqlite-utils split them
                db.executescript(text)
            statement = []
    rest = "".join(statement).strip()
    if rest:
        db.executescript(rest)


@migrations()
def m001_core(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            to_number TEXT NOT NULL,
            text TEXT NOT NULL,
            encoding TEXT NOT NULL,
            segments INTEGER NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled', 'expired')),
            not_before TEXT,
            expires_at TEXT,
            retry_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 5,
            lease_owner TEXT,
            lease_until TEXT,
            modem TEXT,
            concat_ref INTEGER,
            pinned_at TEXT,
            srr INTEGER NOT NULL DEFAULT 1,
            validity_minutes INTEGER,
            possible_duplicate INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            campaign_id INTEGER,
            member_id INTEGER,
            account TEXT,
            dedup_key TEXT UNIQUE,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            delivered_at TEXT,
            finished_at TEXT
        );
        CREATE INDEX outbox_ready ON outbox (state, priority DESC, id);
        CREATE TABLE outbox_parts (
            message_id INTEGER NOT NULL REFERENCES outbox (id),
            seq INTEGER NOT NULL,
            total INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'submitting', 'sent', 'delivered', 'failed')),
            modem TEXT,
            mr INTEGER,
            price_fen INTEGER,
            submitted_at TEXT,
            sent_at TEXT,
            report_status INTEGER,
            report_at TEXT,
            PRIMARY KEY (message_id, seq)
        );
        CREATE INDEX outbox_parts_report ON outbox_parts (modem, mr);
        CREATE INDEX outbox_parts_sent ON outbox_parts (sent_at);
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            parts INTEGER NOT NULL,
            incomplete INTEGER NOT NULL DEFAULT 0,
            undecodable INTEGER NOT NULL DEFAULT 0,
            scts TEXT,
            received_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'new',
            handled_at TEXT
        );
        CREATE INDEX inbox_state ON inbox (state, id);
        CREATE TABLE inbox_parts (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            pdu TEXT NOT NULL,
            pdu_hash TEXT NOT NULL,
            sender TEXT,
            ref INTEGER,
            total INTEGER,
            seq INTEGER,
            raw_text TEXT,
            scts TEXT,
            error TEXT,
            received_at TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox (id),
            UNIQUE (modem, pdu_hash)
        );
        CREATE INDEX inbox_parts_open ON inbox_parts (modem, sender, ref, total) WHERE inbox_id IS NULL;
        CREATE TABLE status_reports (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            mr INTEGER NOT NULL,
            recipient TEXT NOT NULL,
            status INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            discharge TEXT,
            received_at TEXT NOT NULL,
            message_id INTEGER,
            seq INTEGER
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT,
            event TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL
        );
        CREATE INDEX events_entity ON events (entity, entity_id);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        CREATE TABLE modems (
            name TEXT PRIMARY KEY,
            port TEXT,
            state TEXT,
            signal INTEGER,
            registered INTEGER,
            operator TEXT,
            model TEXT,
            imei TEXT,
            imsi TEXT,
            storage_used INTEGER,
            storage_total INTEGER,
            last_error TEXT,
            updated_at TEXT
        );
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        """,
    )


@migrations()
def m002_members_and_campaigns(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE org_units (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            parent_id INTEGER REFERENCES org_units (id)
        );
        CREATE TABLE members (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            org_id INTEGER REFERENCES org_units (id),
            joined TEXT,
            extras TEXT NOT NULL DEFAULT '{}',
            opted_out INTEGER NOT NULL DEFAULT 0,
            opted_out_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX members_org ON members (org_id);
        CREATE INDEX members_joined ON members (substr(joined, 6, 5));
        CREATE TABLE member_tags (
            member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (member_id, tag)
        );
        CREATE INDEX member_tags_tag ON member_tags (tag);
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'broadcast',
            template TEXT,
            text TEXT,
            selection TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'cancelled', 'done')),
            urgent INTEGER NOT NULL DEFAULT 0,
            recipients INTEGER NOT NULL DEFAULT 0,
            segments INTEGER NOT NULL DEFAULT 0,
            estimate_fen INTEGER NOT NULL DEFAULT 0,
            not_before TEXT,
            owner_org TEXT,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        ALTER TABLE outbox ADD COLUMN quiet_ok INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX outbox_campaign ON outbox (campaign_id, state);
        CREATE INDEX outbox_parts_modem_sent ON outbox_parts (modem, sent_at);
        """,
    )


@migrations()
def m003_two_way(db: Database) -> None:
    _script(
        db,
        """
        ALTER TABLE inbox ADD COLUMN kind TEXT;
        ALTER TABLE inbox ADD COLUMN command TEXT;
        ALTER TABLE inbox ADD COLUMN normalized TEXT;
        ALTER TABLE inbox ADD COLUMN member_id INTEGER;
        ALTER TABLE inbox ADD COLUMN feedback_read INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX inbox_sender ON inbox (sender, received_at);
        ALTER TABLE campaigns ADD COLUMN confirm INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE campaigns ADD COLUMN poll_id INTEGER;
        CREATE INDEX outbox_to ON outbox (to_number, created_at);
        CREATE TABLE polls (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            options TEXT NOT NULL,
            audience TEXT NOT NULL DEFAULT '{}',
            opens_at TEXT NOT NULL,
            closes_at TEXT NOT NULL,
            policy TEXT NOT NULL DEFAULT 'first' CHECK (policy IN ('first', 'last')),
            announce INTEGER NOT NULL DEFAULT 0,
            announced INTEGER NOT NULL DEFAULT 0,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE poll_audience (
            poll_id INTEGER NOT NULL REFERENCES polls (id),
            member_id INTEGER NOT NULL,
            PRIMARY KEY (poll_id, member_id)
        );
        CREATE TABLE votes (
            poll_id INTEGER NOT NULL REFERENCES polls (id),
            member_id INTEGER NOT NULL,
            option INTEGER NOT NULL,
            inbox_id INTEGER,
            voted_at TEXT NOT NULL,
            changes INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (poll_id, member_id)
        );
        CREATE TABLE receipts (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            member_id INTEGER,
            phone TEXT NOT NULL,
            inbox_id INTEGER,
            confirmed_at TEXT NOT NULL,
            PRIMARY KEY (campaign_id, phone)
        );
        CREATE TABLE red_campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
            max_length INTEGER NOT NULL DEFAULT 140,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE red_submissions (
            id INTEGER PRIMARY KEY,
            red_campaign_id INTEGER NOT NULL REFERENCES red_campaigns (id),
            member_id INTEGER,
            phone TEXT NOT NULL,
            org TEXT,
            text TEXT NOT NULL,
            text_key TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
            reason TEXT,
            inbox_id INTEGER,
            submitted_at TEXT NOT NULL,
            reviewed_at TEXT,
            reviewed_by TEXT,
            UNIQUE (red_campaign_id, text_key)
        );
        CREATE TABLE flagged_numbers (
            phone TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            flagged_at TEXT NOT NULL
        );
        CREATE TABLE optouts (
            phone TEXT PRIMARY KEY,
            opted_out_at TEXT NOT NULL
        );
        """,
    )


@migrations()
def m004_inbox_parts_sim_deleted(db: Database) -> None:
    """A PDU read again after a crash is a duplicate only while its SIM copy was not yet deleted:
    an identical SMS arriving later (same sender, text and second) is a new message."""
    _script(
        db,
        """
        CREATE TABLE inbox_parts_new (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            pdu TEXT NOT NULL,
            pdu_hash TEXT NOT NULL,
            sender TEXT,
            ref INTEGER,
            total INTEGER,
            seq INTEGER,
            raw_text TEXT,
            scts TEXT,
            error TEXT,
            received_at TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox (id),
            sim_deleted INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO inbox_parts_new (id, modem, pdu, pdu_hash, sender, ref, total, seq, raw_text, scts, error,
                                     received_at, inbox_id, sim_deleted)
            SELECT id, modem, pdu, pdu_hash, sender, ref, total, seq, raw_text, scts, error, received_at, inbox_id, 1
            FROM inbox_parts;
        DROP TABLE inbox_parts;
        ALTER TABLE inbox_parts_new RENAME TO inbox_parts;
        CREATE INDEX inbox_parts_hash ON inbox_parts (modem, pdu_hash, sim_deleted);
        CREATE INDEX inbox_parts_open ON inbox_parts (modem, sender, ref, total) WHERE inbox_id IS NULL;
        """,
    )


@migrations()
def m005_ledger_and_budgets(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            campaign_id INTEGER,
            org TEXT,
            account TEXT NOT NULL,
            modem TEXT NOT NULL,
            price_fen INTEGER NOT NULL,
            sent_at TEXT NOT NULL,
            month TEXT NOT NULL,
            day TEXT NOT NULL,
            UNIQUE (message_id, seq, sent_at)
        );
        CREATE INDEX ledger_month ON ledger (month, org);
        CREATE INDEX ledger_day ON ledger (day);
        CREATE INDEX ledger_org ON ledger (org);
        CREATE TABLE budgets (
            org TEXT NOT NULL,
            month TEXT NOT NULL,
            limit_fen INTEGER NOT NULL,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL,
            PRIMARY KEY (org, month)
        );
        ALTER TABLE outbox ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;
        INSERT INTO ledger (message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, month, day)
            SELECT p.message_id, p.seq, o.campaign_id, c.owner_org,
                   COALESCE(o.account, CASE WHEN o.campaign_id IS NULL THEN 'direct' ELSE 'campaign' END),
                   p.modem, COALESCE(p.price_fen, 0), p.sent_at,
                   strftime('%Y-%m', p.sent_at, '+8 hours'), strftime('%Y-%m-%d', p.sent_at, '+8 hours')
            FROM outbox_parts p JOIN outbox o ON o.id = p.message_id LEFT JOIN campaigns c ON c.id = o.campaign_id
            WHERE p.sent_at IS NOT NULL;
        """,
    )


@migrations()
def m006_webhooks(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY,
            forward TEXT NOT NULL,
            inbox_id INTEGER NOT NULL REFERENCES inbox (id),
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            delivered_at TEXT,
            UNIQUE (forward, inbox_id)
        );
        CREATE INDEX webhook_due ON webhook_deliveries (state, next_attempt_at);
        """,
    )


@migrations()
def m007_submits(db: Database) -> None:
    """Every AT+CMGS (or other transport submit) is a row: in flight, accepted, refused or in doubt.

    The ledger books each accepted submit (a resend the carrier accepted is billed too), a late
    answer or a status report can settle a submit that was in doubt, and `attempts` counts only
    the network's refusals: crash and timeout resends are counted apart in `resends`.
    """
    _script(
        db,
        """
        CREATE TABLE submits (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES outbox (id),
            seq INTEGER NOT NULL,
            modem TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'in_flight' CHECK (state IN
                ('in_flight', 'accepted', 'refused', 'in_doubt', 'not_sent')),
            cause TEXT,
            resend INTEGER NOT NULL DEFAULT 0,
            mr INTEGER,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX submits_part ON submits (message_id, seq);
        CREATE INDEX submits_doubt ON submits (modem, state) WHERE state IN ('in_flight', 'in_doubt');
        ALTER TABLE outbox ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ledger ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ledger ADD COLUMN submit_id INTEGER;
        ALTER TABLE outbox_parts ADD COLUMN mr_unknown INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE daemon_threads (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            crashes INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );
        """,
    )


@migrations()
def m008_reply_index_and_message_org(db: Database) -> None:
    """Replies are counted per hour (strangers' cap); API sends are billed to the client's org."""
    _script(
        db,
        """
        CREATE INDEX outbox_created ON outbox (created_by, created_at);
        ALTER TABLE outbox ADD COLUMN org TEXT;
        """,
    )


@migrations()
def m009_provider_ref(db: Database) -> None:
    """A part's reference at its transport (the TP-MR on a GSM modem, a message id over SMPP):
    reports match on (transport, provider_ref, recipient)."""
    _script(
        db,
        """
        ALTER TABLE outbox_parts RENAME COLUMN mr TO provider_ref;
        ALTER TABLE outbox_parts RENAME COLUMN mr_unknown TO provider_ref_unknown;
        ALTER TABLE status_reports RENAME COLUMN mr TO provider_ref;
        ALTER TABLE submits RENAME COLUMN mr TO provider_ref;
        """,
    )


@migrations()
def m010_held_work_costs_nothing(db: Database) -> None:
    """A held backlog costs nothing per claim: claims walk partial indexes that leave out the
    messages of paused campaigns (`held`) and, in quiet hours, everything not urgent; the next
    scheduled time is an index seek; a SIM's sends in the last hour and today are two seeks
    (each sent part carries the modem's running number, `modem_seq`)."""
    _script(
        db,
        """
        ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
        UPDATE outbox SET held = 1 WHERE state = 'queued'
            AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'paused');
        CREATE INDEX outbox_claim ON outbox (priority DESC, id) WHERE state = 'queued' AND held = 0;
        CREATE INDEX outbox_claim_quiet ON outbox (priority DESC, id)
            WHERE state = 'queued' AND held = 0 AND quiet_ok = 1;
        CREATE INDEX outbox_not_before ON outbox (not_before) WHERE state = 'queued';
        CREATE INDEX outbox_retry_at ON outbox (retry_at) WHERE state = 'queued';
        ALTER TABLE outbox_parts ADD COLUMN modem_seq INTEGER;
        UPDATE outbox_parts SET modem_seq = n.seq FROM (
            SELECT rowid AS rid, ROW_NUMBER() OVER (PARTITION BY modem ORDER BY sent_at, rowid) AS seq
            FROM outbox_parts WHERE sent_at IS NOT NULL AND modem IS NOT NULL) AS n
            WHERE outbox_parts.rowid = n.rid;
        INSERT OR REPLACE INTO counters (name, value)
            SELECT 'sent:' || modem, MAX(modem_seq) FROM outbox_parts WHERE modem_seq IS NOT NULL GROUP BY modem;
        DROP INDEX outbox_parts_modem_sent;
        CREATE INDEX outbox_parts_modem_sent ON outbox_parts (modem, sent_at, modem_seq);
        """,
    )


@migrations()
def m011_sparse_schedule_indexes(db: Database) -> None:
    """The next-due indexes hold only messages that have a time to wait for (a broadcast of
    100,000 unscheduled messages adds nothing to them)."""
    _script(
        db,
        """
        DROP INDEX outbox_not_before;
        DROP INDEX outbox_retry_at;
        CREATE INDEX outbox_not_before ON outbox (not_before) WHERE state = 'queued' AND not_before IS NOT NULL;
        CREATE INDEX outbox_retry_at ON outbox (retry_at) WHERE state = 'queued' AND retry_at IS NOT NULL;
        """,
    )


@migrations()
def m012_expiry_index(db: Database) -> None:
    """Housekeeping finds the messages to expire with an index seek, not a scan of the queue."""
    _script(
        db,
        """
        CREATE INDEX outbox_expiry ON outbox (expires_at) WHERE state = 'queued' AND expires_at IS NOT NULL;
        """,
    )


@migrations()
def m013_ledger_books_doubt(db: Database) -> None:
    """A submit without an answer is what the SIM (or account) most likely paid: it is booked
    when it falls in doubt (certain = 0) and made certain when a report or a late answer settles
    it. Each submit carries the price it would cost, set when it starts. A ledger row is unique
    per submit (two submits of one part in the same millisecond are two rows, not one)."""
    _script(
        db,
        """
        ALTER TABLE submits ADD COLUMN price_fen INTEGER;
        CREATE TABLE ledger_new (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            campaign_id INTEGER,
            org TEXT,
            account TEXT NOT NULL,
            modem TEXT NOT NULL,
            price_fen INTEGER NOT NULL,
            sent_at TEXT NOT NULL,
            month TEXT NOT NULL,
            day TEXT NOT NULL,
            resend INTEGER NOT NULL DEFAULT 0,
            submit_id INTEGER,
            certain INTEGER NOT NULL DEFAULT 1
        );
        INSERT INTO ledger_new (id, message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, month,
                                day, resend, submit_id)
            SELECT id, message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, month, day, resend,
                   submit_id FROM ledger;
        DROP TABLE ledger;
        ALTER TABLE ledger_new RENAME TO ledger;
        CREATE INDEX ledger_month ON ledger (month, org);
        CREATE INDEX ledger_day ON ledger (day);
        CREATE INDEX ledger_org ON ledger (org);
        CREATE UNIQUE INDEX ledger_submit ON ledger (submit_id) WHERE submit_id IS NOT NULL;
        CREATE UNIQUE INDEX ledger_part_time ON ledger (message_id, seq, sent_at) WHERE submit_id IS NULL;
        """,
    )


@migrations()
def m014_incidents_and_resume(db: Database) -> None:
    """A modem's last incident stays visible after it healed (a drop, a timeout, throttling, a
    refusal), with its time; an admin may ask a paused transport to try again at once."""
    _script(
        db,
        """
        ALTER TABLE modems ADD COLUMN last_incident TEXT;
        ALTER TABLE modems ADD COLUMN last_incident_at TEXT;
        ALTER TABLE modems ADD COLUMN resume_requested_at TEXT;
        """,
    )


@migrations()
def m015_message_template(db: Database) -> None:
    """A message keeps the template it was rendered from and its variables (JSON) beside the
    text: a provider that sends a filed template code with parameters needs them, not the text."""
    _script(
        db,
        """
        ALTER TABLE outbox ADD COLUMN template TEXT;
        ALTER TABLE outbox ADD COLUMN variables TEXT;
        """,
    )


@migrations()
def m016_accounts_and_audit(db: Database) -> None:
    """People who use smsd (分级管理): an account has a role within a subtree of the org tree
    (scope '' is the whole county). The audit trail records who did what, from where, with what
    result; like the event log it is append-only (网络安全法 21条: kept at least six months)."""
    _script(
        db,
        """
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            phone TEXT,
            role TEXT NOT NULL CHECK (role IN ('operator', 'approver', 'admin', 'auditor')),
            scope TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1,
            password_hash TEXT NOT NULL,
            must_change INTEGER NOT NULL DEFAULT 1,
            password_changed_at TEXT NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            via TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            result TEXT NOT NULL DEFAULT 'ok',
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_at ON audit (at);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        """,
    )


@migrations()
def m017_sessions_tokens_approvals(db: Database) -> None:
    """What 分级管理 needs beyond accounts: which part of the tree a poll or a red-message
    campaign belongs to; the grant to send to numbers outside the roster; an account's API
    tokens, its sessions and its one-time login codes (hashes only); broadcasts waiting for
    approval (待审批) with their dry run; and an audit trail whose rows may go only once they are
    180 days old (网络安全法 21条), whoever asks."""
    _script(
        db,
        """
        ALTER TABLE polls ADD COLUMN owner_org TEXT;
        ALTER TABLE red_campaigns ADD COLUMN owner_org TEXT;
        ALTER TABLE accounts ADD COLUMN any_number INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE account_tokens (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE,
            via TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            ended_at TEXT,
            ended_why TEXT
        );
        CREATE INDEX sessions_login ON sessions (login, ended_at);
        CREATE TABLE login_codes (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL,
            challenge_sha256 TEXT NOT NULL UNIQUE,
            code_hash TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX login_codes_login ON login_codes (login, created_at);
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY,
            author TEXT NOT NULL,
            scope TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL,
            request TEXT NOT NULL,
            summary TEXT NOT NULL,
            revision INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'approved', 'refused', 'withdrawn')),
            reason TEXT,
            decided_by TEXT,
            decided_at TEXT,
            campaign_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        DROP TRIGGER audit_no_delete;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            WHEN OLD.at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-180 days')
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only (rows go after 180 days)'); END;
        """,
    )
