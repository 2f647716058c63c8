"""The application's single door: one verb per action, called by every front end.

The CLI's commands, the HTTP API's routes (and the web console to come) call these verbs and
nothing below them: a rule (who may do what, within which part of the org tree; what goes in
the audit trail) lives in its verb once, never in one front end. Each verb takes the store, the
config where it needs it, and its actor ("cli", "api:<client>"), and returns records or values.

    messages   send, the outbox and the inbox (show, cancel, retry, mark read, unflag)
    campaigns  campaigns' list, status, pause/resume/cancel, receipts
    polls      polls and red-message (红段子) campaigns
    roster     members and org units: import, export, list, show, remove
    reports    cost, delivery, the archive, budgets, purge, backup
    api        the HTTP API's sends: idempotency keys, batches, the client's view of a message
"""
