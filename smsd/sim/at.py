"""The emulated modem's AT command interpreter: one handler per command.

Handlers get the modem (its state) and the argument text after the command name, and
return the information lines of the answer; they raise Reply for a final result other
than OK. Only the interpreter knows the syntax; the modem knows the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from smsd.sim.dialects import CLAC

if TYPE_CHECKING:
    from smsd.sim.modem import EmulatedModem

# +CME ERROR codes (TS 27.007 §9.2) with the verbose texts used by AT+CMEE=2.
CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    14: "SIM busy",
    16: "incorrect password",
    30: "no network service",
    100: "unknown",
    515: "please wait, init or command processing in progress",
}
CMS_TEXT = {
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}


class Reply(Exception):
    """A final result other than OK: ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, kind: str, code: int = 0) -> None:
        self.kind, self.code = kind, code


class NoFinal(Exception):
    """Answer these lines and no final result code (Wavecom's +CPIN: READY)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines


class Prompt(Exception):
    """AT+CMGS accepted its length: the modem now waits for a PDU."""

    def __init__(self, length: int) -> None:
        self.length = length


def cme(code: int) -> Reply:
    return Reply("CME", code)


def cms(code: int) -> Reply:
    return Reply("CMS", code)


def args_of(text: str) -> list[str]:
    """Split 'a,"b,c",3' into ['a', 'b,c', '3'] (quotes removed)."""
    return [a.strip().strip('"') for a in re.findall(r'"[^"]*"|[^,]+|(?<=,)(?=,)|(?<=,)$', text)]


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Reply("ERROR") from None


Handler = Callable[["EmulatedModem", str, str], list[str]]
HANDLERS: dict[str, Handler] = {}
SIM_COMMANDS: set[str] = set()  # need the SIM: refused while busy or PIN-locked


def command(*names: str, sim: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
            if sim:
                SIM_COMMANDS.add(n)
        return fn

    return register


def split_line(line: str) -> list[tuple[str, str, str]]:
    """'AT+CMGF=0;+CNMI?' -> [('+CMGF', '=', '0'), ('+CNMI', '?', '')]; basic ones too."""
    body = line[2:]
    parts: list[str] = []
    cur, quoted = "", False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([+^$][A-Za-z0-9]+)(=\?|\?|=)?(.*)$", part)
        if m:
            out.append((m.group(1).upper(), m.group(2) or "", m.group(3)))
            continue
        for tok in re.findall(r"(&?[A-Za-z])(\d*)", part):
            out.append((tok[0].upper(), "=", tok[1]))
        if not re.fullmatch(r"((&?[A-Za-z])\d*)*", part):
            out.append(("?garbage", "", part))
    return out


# ---------------------------------------------------------------- basic commands


@command("E")
def echo(m: EmulatedModem, op: str, arg: str) -> list[str]:
    m.echo = arg != "0"
    return []


@command("Z", "&F")
def reset(m: EmulatedModem, op: str, arg: str) -> list[str]:
    m.reset_settings()
    return []


@command("I")
def info(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [m.profile.manufacturer, m.profile.model, "Revision: " + m.profile.revision]


@command("V", "Q", "X", "&C", "&D", "&W", "S", "H")
def harmless(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return []


# ---------------------------------------------------------------- identity and settings


@command("+CGMI", "+GMI")
def cgmi(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [] if op == "=?" else [m.profile.manufacturer]


@command("+CGMM", "+GMM")
def cgmm(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [] if op == "=?" else [m.profile.model]


@command("+CGMR", "+GMR")
def cgmr(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [] if op == "=?" else [m.profile.revision]


@command("+CGSN", "+GSN")
def cgsn(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [] if op == "=?" else [m.profile.imei]


@command("+CIMI", sim=True)
def cimi(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return [] if op == "=?" else [m.options.imsi]


@command("+CMEE")
def cmee(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return [f"+CMEE: {m.cmee}"]
    if op == "=?":
        return ["+CMEE: (0-2)"]
    value = _int(arg or "0")
    if value not in (0, 1, 2):
        raise Reply("ERROR")
    m.cmee = value
    return []


@command("+CFUN")
def cfun(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return ["+CFUN: 1"]
    if op == "=?":
        return ["+CFUN: (0,1,4),(0,1)"]
    return []


@command("+CPIN")
def cpin(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        state = "READY" if m.pin_ok else "SIM PIN"
        if m.profile.cpin_without_ok:
            raise NoFinal([f"+CPIN: {state}"])
        return [f"+CPIN: {state}"]
    if op == "=?":
        return []
    given = args_of(arg)[0] if arg else ""
    if m.pin_ok:
        return []
    if given != m.options.pin:
        raise cme(16)
    m.pin_ok = True
    return []


@command("+CSQ")
def csq(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return ["+CSQ: (0-31,99),(0-7,99)"] if op == "=?" else [f"+CSQ: {m.rssi},99"]


@command("+CBC")
def cbc(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return ["+CBC: 0,100,4200"]


def _registration(key: str) -> Handler:
    def handler(m: EmulatedModem, op: str, arg: str) -> list[str]:
        if op == "=?":
            return [f"{key}: (0-2)"]
        if op == "=":
            value = _int(arg)
            if value not in (0, 1, 2):
                raise Reply("ERROR")
            m.creg_n = value
            return []
        stat = 1 if m.registered else 0
        extra = ',"1A2B","00C3"' if m.creg_n == 2 else ""
        return [f"{key}: {m.creg_n},{stat}{extra}"]

    return handler


command("+CREG")(_registration("+CREG"))
command("+CGREG")(_registration("+CGREG"))


@command("+CGATT")
def cgatt(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return ["+CGATT: (0,1)"] if op == "=?" else ([f"+CGATT: {int(m.registered)}"] if op == "?" else [])


@command("+COPS")
def cops(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "=?":
        return [f'+COPS: (2,"{m.options.operator}","CMCC","{m.options.operator_numeric}"),,(0-4),(0-2)']
    if op == "=":
        a = args_of(arg)
        if a and a[0] == "3" and len(a) > 1:
            m.cops_format = _int(a[1])
        return []
    if not m.registered:
        return ["+COPS: 0"]
    name = {0: m.options.operator, 1: "CMCC", 2: m.options.operator_numeric}.get(m.cops_format)
    return [f'+COPS: 0,{m.cops_format},"{name}"']


@command("+CMGF")
def cmgf(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return ["+CMGF: 0"]
    if op == "=?":
        return ["+CMGF: (0)"]
    if arg.strip() != "0":
        raise Reply("ERROR")  # text mode is not emulated; real PDU-only modems say the same
    return []


@command("+CSCS")
def cscs(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return [f'+CSCS: "{m.cscs}"']
    if op == "=?":
        return ['+CSCS: ("GSM","IRA","UCS2","HEX")']
    value = args_of(arg)[0] if arg else ""
    if value not in ("GSM", "IRA", "UCS2", "HEX"):
        raise Reply("ERROR")
    m.cscs = value
    return []


@command("+CSCA", sim=True)
def csca(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return [f'+CSCA: "{m.smsc}",145']
    if op == "=":
        m.smsc = args_of(arg)[0]
    return []


@command("+CSMP")
def csmp(m: EmulatedModem, op: str, arg: str) -> list[str]:
    return ["+CSMP: 17,167,0,0"] if op == "?" else []


@command("+CSMS")
def csms(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "?":
        return [f"+CSMS: {m.csms},1,1,1"]
    if op == "=?":
        return ["+CSMS: (0,1)"]
    value = _int(arg)
    if value not in (0, 1):
        raise Reply("ERROR")
    m.csms = value
    return ["+CSMS: 1,1,1"]


@command("+CLAC")
def clac(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if not m.profile.has_clac:
        raise cme(100)
    if m.profile.clac_style == "comma":
        return ["+CLAC: " + ",".join(CLAC)]
    return list(CLAC)


@command("+CUSD")
def cusd(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op in ("?", "=?"):
        return ["+CUSD: 0" if op == "?" else "+CUSD: (0-2)"]
    a = args_of(arg)
    if len(a) >= 2 and a[1]:
        m.later(0.05, lambda: m.urc('+CUSD: 0,"Balance: 12.34 CNY, valid until 2027-12-31",15'))
    return []


# ---------------------------------------------------------------- SMS


@command("+CPMS", sim=True)
def cpms(m: EmulatedModem, op: str, arg: str) -> list[str]:
    mems = m.profile.memories
    quoted = ",".join(f'"{x}"' for x in mems)
    if op == "=?":
        no_sr = ",".join(f'"{x}"' for x in mems if x != "SR")
        return [f"+CPMS: ({quoted}),({no_sr}),({no_sr})"]
    if op == "?":
        return ["+CPMS: " + ",".join(f'"{n}",{m.memory(n).used},{m.memory(n).total}' for n in m.cpms)]
    wanted = args_of(arg)
    if not 1 <= len(wanted) <= 3 or any(w not in mems for w in wanted):
        raise cms(302)
    for slot, name in enumerate(wanted):
        m.cpms[slot] = name
    return ["+CPMS: " + ",".join(f"{m.memory(n).used},{m.memory(n).total}" for n in m.cpms)]


@command("+CNMI", sim=True)
def cnmi(m: EmulatedModem, op: str, arg: str) -> list[str]:
    ranges = m.profile.cnmi_ranges
    if op == "?":
        return ["+CNMI: " + ",".join(str(v) for v in m.cnmi)]
    if op == "=?":
        return ["+CNMI: " + ",".join("(" + ",".join(str(v) for v in r) + ")" for r in ranges)]
    values = tuple(_int(a) if a else 0 for a in args_of(arg))
    if not values or len(values) > 5:
        raise Reply("ERROR")
    if any(v not in ranges[i] for i, v in enumerate(values)) or values in m.profile.cnmi_rejects:
        raise cms(303)
    m.cnmi = (values + (0, 0, 0, 0, 0))[:5]
    return []


@command("+CMGS", sim=True)
def cmgs(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "=?":
        return []
    length = _int(arg.split(",")[0])
    if not 7 <= length <= 164:
        raise cms(304)
    raise Prompt(length)


@command("+CMGL", sim=True)
def cmgl(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "=?":
        return ["+CMGL: (0-4)"]
    stat = _int(arg or "4")
    if stat not in range(5):
        raise cms(302)
    mem = m.memory(m.cpms[0])
    lines = []
    for index, msg in mem.listing(stat):
        lines += [f"+CMGL: {index},{msg.stat},,{msg.tpdu_length}", msg.pdu]
        if msg.stat == 0:
            msg.stat = 1
    return lines


@command("+CMGR", sim=True)
def cmgr(m: EmulatedModem, op: str, arg: str) -> list[str]:
    index = _int(arg)
    mem = m.memory(m.cpms[0])
    if not mem.valid(index):
        raise cms(321)
    msg = mem.slots.get(index)
    if msg is None:
        return []
    line = f"+CMGR: {msg.stat},,{msg.tpdu_length}"
    if msg.stat == 0:
        msg.stat = 1
    return [line, msg.pdu]


@command("+CMGD", sim=True)
def cmgd(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "=?":
        mem = m.memory(m.cpms[0])
        return [f"+CMGD: ({','.join(str(i) for i in sorted(mem.slots))}),(0-4)"]
    a = args_of(arg)
    index = _int(a[0]) if a and a[0] else 0
    flag = _int(a[1]) if len(a) > 1 and a[1] else 0
    mem = m.memory(m.cpms[0])
    if flag not in range(5) or (flag == 0 and not mem.valid(index)):
        raise cms(321)
    before = len(mem.slots)
    mem.delete(index, flag)
    if len(mem.slots) < before:
        m.note("taken", f"+CMGD={index},{flag}")
    m.storage_freed()
    return []


@command("+CNMA")
def cnma(m: EmulatedModem, op: str, arg: str) -> list[str]:
    if op == "=?":
        return ["+CNMA: (0-2)"]
    if not m.acknowledge():
        raise cms(340)
    return []


@command("+CLIP", "+CRC", "+CVHU", "+CMMS", "+CSDH", "^CURC", "^PORTSEL", "+WIND", "+CSCB")
def accepted_setting(m: EmulatedModem, op: str, arg: str) -> list[str]:
    """Settings that real modems accept and that change nothing an SMS client can see."""
    return []
