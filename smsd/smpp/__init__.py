"""SMPP 3.4: the message bodies (codec) shared by the SMPP transport and the `smsd smsc` emulator.

Only ``smsd.smpp``, ``smsd.transport.smpp`` and ``smsd.smsc`` import smpplib.
"""
