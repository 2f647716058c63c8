"""Modem dialects as data: what each family of real modems says differently.

Sources: python-gsmmodem's recorded modems (test/fakemodems.py), vendor AT manuals, and
the transcripts in shared/research. A profile changes answers, never the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str
    model: str
    revision: str
    imei: str
    unsupported: str = "ERROR"  # what an unknown command gets
    has_clac: bool = True
    clac_style: str = "lines"  # "lines": one per line; "comma": "+CLAC: a,b,c"
    cpin_without_ok: bool = False  # Wavecom answers +CPIN: READY and no OK
    boot_busy: int = 0  # SIM commands answered +CME ERROR: 515 right after start
    boot_lines: tuple[str, ...] = ()  # URCs sent when the modem (re)starts
    noise: tuple[str, ...] = ("+CREG: 1",)  # lines for the "noise" fault
    memories: tuple[str, ...] = ("SM", "ME", "SR")
    capacity: dict[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 50, "SR": 20})
    index_base: int = 1  # Huawei counts SIM slots from 0
    cnmi_ranges: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1))
    cnmi_rejects: tuple[tuple[int, ...], ...] = ()  # exact combinations refused (+CMS ERROR: 303)


GENERIC = Profile(
    name="generic",
    manufacturer="SMSD",
    model="SMSD-EMU-1",
    revision="smsd-emulator 1.0",
    imei="356938035643809",
)

HUAWEI = Profile(
    name="huawei",
    manufacturer="huawei",
    model="E1752",
    revision="11.126.13.00.00",
    imei="353142030000001",
    unsupported="COMMAND NOT SUPPORT",
    boot_lines=("^BOOT:20952507,0,0,0,72", "^MODE:5,4"),
    noise=("^RSSI:18", "^MODE:5,4", "^SRVST:2", "^BOOT:20952507,0,0,0,72", "^DSFLOWRPT:0000A5,0,0"),
    memories=("SM", "ME", "SR"),
    index_base=0,
)

WAVECOM = Profile(
    name="wavecom",
    manufacturer="WAVECOM MODEM",
    model="MULTIBAND  900E  1800",
    revision="641b09gg.Q2403A 1320676 061804 14:38",
    imei="012345678901234",
    cpin_without_ok=True,
    boot_busy=2,
    boot_lines=("+WIND: 13", "+WIND: 1", "+WIND: 7", "+WIND: 4"),
    noise=('+WIND: 10,"SM",0,"FD",0,"ON",1', "+WIND: 11,,,,,", "+WIND: 3"),
    memories=("SM", "BM", "SR"),
    capacity={"SM": 30, "BM": 20, "SR": 20},
)

SIMCOM = Profile(
    name="simcom",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800",
    revision="Revision:1308B06SIM800M32",
    imei="865067020000001",
    has_clac=False,
    boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
    noise=("Call Ready", "SMS Ready", "+CPIN: READY", "UNDER-VOLTAGE WARNNING"),
    cnmi_rejects=((2, 1, 0, 2), (2, 1, 0, 2, 0)),
)

QUECTEL = Profile(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A03M4G",
    imei="866758040000001",
    boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    noise=("+QIND: SMS DONE", "+QIND: PB DONE", "+QUSIM: 1", '+QIND: "csq",23,99'),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (GENERIC, HUAWEI, WAVECOM, SIMCOM, QUECTEL)}

CLAC = (
    "AT",
    "ATE",
    "ATI",
    "ATZ",
    "AT&F",
    "AT+CGMI",
    "AT+CGMM",
    "AT+CGMR",
    "AT+CGSN",
    "AT+CIMI",
    "AT+CMEE",
    "AT+CPIN",
    "AT+CSQ",
    "AT+CREG",
    "AT+COPS",
    "AT+CMGF",
    "AT+CSCS",
    "AT+CSCA",
    "AT+CSMS",
    "AT+CPMS",
    "AT+CNMI",
    "AT+CMGS",
    "AT+CMGL",
    "AT+CMGR",
    "AT+CMGD",
    "AT+CNMA",
    "AT+CUSD",
    "AT+CLAC",
    "AT+CFUN",
    "AT+CBC",
    "AT+CGATT",
    "AT+CSMP",
)
