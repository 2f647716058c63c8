"""Keyword commands for inbound SMS, one module per command, loaded in this order.

Each module defines COMMAND = Command(name, keywords, usage, help, handler, strangers).
Adding a command is adding one file here and its name to MODULES; smsd.registry refuses
a keyword that two commands claim.
"""

MODULES: tuple[str, ...] = ("help", "unsubscribe", "resubscribe", "receipt", "vote", "red", "approve", "feedback")
