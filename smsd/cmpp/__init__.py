"""CMPP 3.0 and 2.0: the codec shared by the transport (smsd/transport/cmpp.py) and the ISMG emulator (smsd/ismg)."""
