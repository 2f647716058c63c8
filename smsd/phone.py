"""Phone numbers: normalise with libphonenumber (E.164, +8613800138000) and mask for logs."""

from __future__ import annotations

import re

from smsd.errors import InputError
from smsd.i18n import _

CN_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
# Digits with an optional leading + or 00, and the spaces, hyphens and brackets people write
# between them; nothing else (no ';', no 'ext', no 'tel:', no leading '-').
NUMBER_SHAPE = re.compile(r"^\+?\d[\d\s\-()（）]*$")


def normalise(raw: str, region: str = "CN") -> str:
    """'138 0013 8000', '008613800138000', '86 138…' -> '+8613800138000'; InputError otherwise."""
    text = str(raw).strip()
    if not NUMBER_SHAPE.match(text) and not re.match(r"^[(（]\+?\d", text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        hint = _(" (one number, digits only, optionally +86 in front)") if re.search(r"\d", text) else ""
        raise InputError(
            "{shown!r} is not a phone number{hint}",
            field="to",
            msg_id="not_a_number",
            value=shown,
            shown=shown,
            hint=hint,
        )
    cleaned = re.sub(r"[\s\-()（）]", "", text)
    if len(cleaned.lstrip("+")) > 15:
        raise InputError(
            "{text!r} is not a phone number (more than 15 digits)", field="to", msg_id="too_long", text=text[:40]
        )
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    elif re.fullmatch(r"861[3-9]\d{9}", cleaned):
        cleaned = "+" + cleaned
    fast = re.fullmatch(r"(?:\+86)?(1[3-9]\d{9})", cleaned)
    if fast:  # a Chinese mobile as people write it: what libphonenumber would say, without loading it
        return "+86" + fast.group(1)
    import phonenumbers  # 80 ms to load: only for the other numbers

    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise InputError(
            "{text!r} is not a phone number", field="to", msg_id="not_a_number", value=text, text=text
        ) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code == 86:
        if not CN_MOBILE.match(e164):
            raise InputError(
                "{text!r} is not a Chinese mobile number (1[3-9] and 9 more digits)",
                field="to",
                msg_id="not_cn_mobile",
                value=text,
                text=text,
            )
        return e164
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_valid_number(number) or kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InputError(
            "{text!r} is not a valid mobile number", field="to", msg_id="not_mobile", value=text, text=text
        )
    return e164


def is_domestic(e164: str) -> bool:
    """A Chinese number (+86): the price and the replies of the county's SIMs are for these."""
    return e164.startswith("+86")


def mask(number: str) -> str:
    """'+8613800138000' -> '138****8000'; short or odd senders keep only their last 4."""
    digits = re.sub(r"\D", "", number or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits or "?"


PRIVACY = True  # the daemon sets this from log_privacy in config.toml


def shown(number: str) -> str:
    """A number as logs show it: masked unless log_privacy = false."""
    return mask(number) if PRIVACY else number
