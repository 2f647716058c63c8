"""`smsd ismg`: a CMPP ISMG emulator (smsd/ismg/server.py)."""
