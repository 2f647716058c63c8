"""Keyword commands for inbound SMS (TP, QR, TD, 帮助, ...): one module per command,
listed explicitly here. The dispatcher that uses them is not built yet."""

MODULES: tuple[str, ...] = ()
