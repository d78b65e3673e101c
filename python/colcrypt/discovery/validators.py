"""Value validators for discovery: each says whether one value is, structurally and by checksum,
an instance of a kind of sensitive data. Column-level judgement (match ratios, checksum lift over
chance, name hints) is built on top of these; a single match means little on its own."""

import ipaddress
import re

_SEPARATORS = re.compile(r"[\s\-.]")


def digits_only(value: str) -> str:
    return _SEPARATORS.sub("", value)


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum; true for about 10% of random digit strings."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# (issuer, lengths, prefix ranges as (low, high) over the first N digits)
_CARD_ISSUERS = (
    ("visa", (13, 16, 19), ((4, 4),)),
    ("mastercard", (16,), ((51, 55), (2221, 2720))),
    ("amex", (15,), ((34, 34), (37, 37))),
    ("discover", (16, 19), ((6011, 6011), (644, 649), (65, 65), (622126, 622925))),
    ("jcb", (16, 17, 18, 19), ((3528, 3589),)),
    ("diners", (14, 16, 19), ((300, 305), (36, 36), (38, 39))),
    ("unionpay", (16, 17, 18, 19), ((62, 62),)),
    ("maestro", (12, 13, 14, 15, 16, 17, 18, 19), ((5018, 5018), (5020, 5020), (5038, 5038), (6304, 6304),
                                                    (6759, 6759), (6761, 6763))),
)
_CARD_FORMAT = re.compile(r"^\d{4}([ -]?)\d{2,6}(?:\1\d{1,7}){0,4}$|^\d{12,19}$")
TEST_PANS = frozenset({"4111111111111111", "4242424242424242", "5555555555554444", "5105105105105100",
                       "378282246310005", "371449635398431", "6011111111111117", "4012888888881881",
                       "3530111333300000", "30569309025904"})


def card_issuer(value: str) -> str | None:
    """The issuer of a payment card number (12-19 digits, optional space/dash groups), or None."""
    value = value.strip()
    if not _CARD_FORMAT.match(value):
        return None
    digits = digits_only(value)
    if not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        return None
    for issuer, lengths, ranges in _CARD_ISSUERS:
        if len(digits) in lengths:
            for low, high in ranges:
                width = len(str(low))
                if low <= int(digits[:width]) <= high:
                    return issuer
    return None


_SSN = re.compile(r"^(\d{3})([- ]?)(\d{2})\2(\d{4})$")
_FAKE_SSNS = frozenset({"078051120", "219099999", "123456789", "111111111", "333333333", "666666666"})


def ssn_ok(value: str, padded: bool = False) -> bool:
    """A US Social Security number by the SSA's rules: area not 000, 666 or 900-999, group not 00,
    serial not 0000, not a well-known fake. padded: an integer that lost its leading zeros."""
    value = value.strip()
    if padded and value.isdigit() and len(value) < 9:
        value = value.zfill(9)
    m = _SSN.match(value)
    if not m:
        return False
    area, group, serial = m.group(1), m.group(3), m.group(4)
    if area == "000" or area == "666" or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in _FAKE_SSNS


def ssn_is_dashed(value: str) -> bool:
    return bool(re.match(r"^\d{3}-\d{2}-\d{4}$", value.strip()))


_EMAIL = re.compile(r"^[^\s@<>(),;:\"\[\]]{1,64}@(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"
                    r"[^\W\d_]{2,63}$")
EMAIL_IN_TEXT = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}(?!\w)")


def email_ok(value: str) -> bool:
    """A whole value that is an e-mail address; any top-level label of letters, so .corp,
    .internal and .local count, and so do unicode local parts and domains."""
    return bool(_EMAIL.match(value.strip()))


def emails_in_text(text: str) -> list[str]:
    return EMAIL_IN_TEXT.findall(text)


_IBAN_LENGTHS = {"AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
                 "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28,
                 "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
                 "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
                 "SM": 27, "TR": 26}


def iban_ok(value: str) -> bool:
    """An IBAN with a known country length and a valid ISO 13616 mod-97 check."""
    iban = re.sub(r"\s", "", value).upper()
    if not re.match(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$", iban) or _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ip_address_ok(value: str) -> bool:
    """An IPv4 or IPv6 address (not a version string such as 1.2.3)."""
    value = value.strip()
    if value.count(".") == 3 or ":" in value:
        try:
            ipaddress.ip_address(value)
            return True
        except ValueError:
            return False
    return False


_PHONE_PUNCT = re.compile(r"^\+?[\d\s().\-/]{7,24}$")
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")


def phone_ok(value: str, default_region: str = "US") -> bool:
    """A phone number: E.164 (+ and 8-15 digits, no leading 0 in the country code), or a North
    American national number (NPA and exchange not starting with 0 or 1). Dates, decimals and
    plain long integers that fit none of these are refused."""
    value = value.strip()
    if not _PHONE_PUNCT.match(value) or _DATE_LIKE.match(value) or re.match(r"^\d+\.\d+$", value):
        return False
    digits = re.sub(r"\D", "", value)
    if value.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if default_region == "US":
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        return len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01" and digits[1:3] != "11"
    return 8 <= len(digits) <= 15


_SSN_IN_TEXT = re.compile(r"(?<![\d-])(\d{3}-\d{2}-\d{4})(?![\d-])")
_CARD_IN_TEXT = re.compile(r"(?<![\d-])(\d{4}(?:[ -]?\d{2,7}){2,4})(?![\d-])")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+-])(\+\d[\d ().-]{7,18}\d|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w-])")


def ssns_in_text(text: str) -> list[str]:
    """Dashed SSNs inside free text (bare 9-digit runs are too common to count)."""
    return [m for m in _SSN_IN_TEXT.findall(text) if ssn_ok(m)]


def cards_in_text(text: str) -> list[str]:
    """Card numbers (issuer range, length and Luhn) inside free text."""
    return [m for m in _CARD_IN_TEXT.findall(text) if card_issuer(m)]


def phones_in_text(text: str) -> list[str]:
    """Punctuated NANP or E.164 phone numbers inside free text."""
    return [m for m in _PHONE_IN_TEXT.findall(text) if phone_ok(m)]


def phone_like(value: str) -> bool:
    """Looser than phone_ok, for columns whose name says phone: any national format of 7-15 digits
    written as a phone number is (punctuation, a leading + or a trunk 0), but not a date or decimal."""
    value = value.strip()
    if not _PHONE_PUNCT.match(value) or _DATE_LIKE.match(value) or re.match(r"^\d+\.\d+$", value):
        return False
    if value.isdigit() and not value.startswith("0"):
        return False  # bare digits: ids look the same
    return 7 <= len(re.sub(r"\D", "", value)) <= 15


_DATE_TEXT = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{8})([ T].*)?$")


def date_like(value: str) -> bool:
    """A date written as text: ISO, US or European order, or YYYYMMDD."""
    return bool(_DATE_TEXT.match(value.strip()))


_DOCUMENT_NUMBER = re.compile(r"^(?=.*\d)[A-Z0-9][A-Z0-9 -]{3,18}[A-Z0-9]$", re.I)


def document_number_like(value: str) -> bool:
    """The shape of a passport or driver licence number: 5-20 letters and digits, at least one digit."""
    return bool(_DOCUMENT_NUMBER.match(value.strip())) and not date_like(value)


def account_number_like(value: str) -> bool:
    """The shape of a domestic bank account number: 6-17 digits, optionally grouped by spaces or dashes."""
    value = value.strip()
    return bool(re.match(r"^\d[\d -]{4,20}\d$", value)) and 6 <= len(re.sub(r"\D", "", value)) <= 17
