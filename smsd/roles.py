"""Who acts, and what a role may do within its part of the org tree (分级管理).

An actor is an account's login with its role and scope (a subtree of the org tree: "" is the
whole county), and where the action came from (via: cli, api, web, sms; source: the OS user,
the client, the address). The box's own command line, with no --as, acts as the root: an
admin of the whole county. Pure: no store, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsd.notes import ROLE_NAMES

ROLES = tuple(ROLE_NAMES)  # operator, approver, admin, auditor

# What each role may do, within its scope. Operators and approvers keep the roster of their part
# (the 通讯录 is their daily work); the auditor reads the audit trail and reports and does nothing
# else; an admin manages accounts and budgets too but cannot read or change the audit trail
# (三员分立); only the root admin (scope "") may do both.
CAN = {
    "operator": {"read", "send", "roster"},  # a township's operator keeps its 通讯录 up to date
    "approver": {"read", "send", "roster", "approve"},
    "admin": {"read", "send", "approve", "accounts", "budgets", "roster"},
    "auditor": {"read", "audit"},
}


@dataclass(frozen=True)
class Actor:
    login: str
    role: str
    scope: str = ""
    via: str = "cli"
    source: str = ""
    any_number: bool = False  # granted: may send to numbers that are no member of the roster

    @property
    def label(self) -> str:
        """Who it was, in the event log: "cli" for the box's administrator, user:LOGIN for an account."""
        return "cli" if self.login == "root" else f"user:{self.login}"

    @property
    def root(self) -> bool:
        return self.role == "admin" and self.scope == ""

    def may(self, what: str) -> bool:
        if what == "audit":
            return self.role == "auditor" or self.root
        return what in CAN.get(self.role, set())

    def covers(self, path: str | None) -> bool:
        """Does this actor's subtree hold org unit path (None or "": the county level itself)?"""
        if not self.scope:
            return True
        path = (path or "").strip("/")
        return path == self.scope or path.startswith(self.scope + "/")


def root(source: str = "") -> Actor:
    """The box's own administrator (the command line without --as)."""
    return Actor("root", "admin", "", "cli", source)


CLI = Actor("root", "admin", "", "cli")  # the box's command line when no actor is named

__all__ = ["CAN", "CLI", "ROLES", "ROLE_NAMES", "Actor", "root"]
