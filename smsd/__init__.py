"""smsd: an SMS gateway daemon for GSM modems, with its own modem emulator."""

__version__ = "0.1.0"
