"""`smsd smsc`: an SMPP 3.4 SMSC emulator (see server.py)."""
