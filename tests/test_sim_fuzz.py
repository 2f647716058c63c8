"""Random bytes and random AT lines never crash the emulator; it keeps serving."""

from __future__ import annotations

import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsd.sim import at
from smsd.sim.emulator import Emulator, ModemOptions
from tests.conftest import Probe

NAMES = sorted(at.HANDLERS) + ["+XYZ", "^FOO", "&Q"]
at_lines = st.builds(
    lambda name, op, args: f"AT{name}{op}{args}".encode(),
    st.sampled_from(NAMES),
    st.sampled_from(["", "?", "=?", "="]),
    st.text(alphabet='0123456789,"SMEAR+ ', max_size=20),
)
junk = st.lists(st.one_of(st.binary(max_size=64), at_lines), min_size=1, max_size=6)


def _check(probe: Probe, chunks: list[bytes]) -> None:
    for chunk in chunks:
        probe.port.write(chunk + b"\r")
    # Leave PDU input (ESC), end any partial line, switch echo off, then ask for the IMEI.
    probe.port.write(b"\x1b\rATE0\rAT+CMGF=0;+CGSN\r")
    probe.read_until(re.compile(rb"356938035643809\r\n\r\nOK\r\n"), timeout=10)
    probe.buffer = b""


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk)
def test_emulator_survives_random_input(chunks):
    with tempfile.TemporaryDirectory() as d, Emulator(d, [ModemOptions("m1")]) as emu:
        probe = Probe(str(emu["m1"].link))
        try:
            _check(probe, chunks)
            assert emu["m1"]._thread.is_alive()
        finally:
            probe.close()
