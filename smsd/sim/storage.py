"""The emulated SIM's message memories (SM, ME, SR, ...), with real slot indexes."""

from __future__ import annotations

from dataclasses import dataclass

REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3


@dataclass
class Stored:
    stat: int
    pdu: str  # hex, with SMSC prefix

    @property
    def tpdu_length(self) -> int:
        smsc_octets = int(self.pdu[:2], 16) + 1
        return len(self.pdu) // 2 - smsc_octets


class Memory:
    """One storage area: fixed capacity, first free slot gets the next message."""

    def __init__(self, name: str, capacity: int, base: int) -> None:
        self.name = name
        self.capacity = capacity
        self.base = base
        self.slots: dict[int, Stored] = {}
        self.full_override = False  # the "SIM full" fault

    @property
    def used(self) -> int:
        return self.capacity if self.full_override else len(self.slots)

    @property
    def total(self) -> int:
        return self.capacity

    def is_full(self) -> bool:
        return self.full_override or self.used >= self.capacity

    def valid(self, index: int) -> bool:
        return self.base <= index < self.base + self.capacity

    def store(self, pdu: str, stat: int = REC_UNREAD) -> int | None:
        """Store a PDU in the first free slot; None when full."""
        if self.is_full():
            return None
        for index in range(self.base, self.base + self.capacity):
            if index not in self.slots:
                self.slots[index] = Stored(stat, pdu)
                return index
        return None

    def delete(self, index: int, flag: int = 0) -> None:
        """AT+CMGD semantics: flag 0 this index; 1 read; 2 read+sent; 3 +unsent; 4 all."""
        if flag == 0:
            self.slots.pop(index, None)
            return
        doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT}}
        for i, msg in list(self.slots.items()):
            if flag >= 4 or msg.stat in doomed.get(flag, set()):
                del self.slots[i]

    def listing(self, stat: int) -> list[tuple[int, Stored]]:
        return [(i, m) for i, m in sorted(self.slots.items()) if stat == 4 or m.stat == stat]
