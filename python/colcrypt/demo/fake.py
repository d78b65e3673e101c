"""Fake personal data that the demo's application (colcrypt.demo.load) writes: values of the kinds
discovery finds (valid card numbers and IBANs, SSNs, phones, e-mails, driver licences, jsonb
addresses), with NULLs, empty strings and non-ASCII text; and which columns each update changes."""

import random
from datetime import date, timedelta
from decimal import Decimal

from colcrypt.demo import sample


def maybe(g: random.Random, value, empty: float = 0.05, null: float = 0.1):
    r = g.random()
    return None if r < null else "" if r < null + empty else value


def name(g: random.Random) -> str:
    return f"{g.choice(sample.FIRST)} {g.choice(sample.LAST)}"


def email(g: random.Random):
    local = g.choice(sample.MAIL_LOCAL)
    local = local.capitalize() if local[0].isascii() and g.random() < 0.3 else local   # ASCII upper-case only
    pad = " " if g.random() < 0.1 else ""
    return maybe(g, f"{pad}{local}.{g.randrange(10**6)}@{g.choice(sample.MAIL_DOMAIN)}{pad}")


def phone(g: random.Random):
    area, line = g.choice(sample.AREA_CODES), g.randrange(10000)
    return maybe(g, g.choice([f"+1 {area}-555-{line:04d}", f"({area}) 555-{line:04d}",
                               f"+49 30 {g.randrange(10**7):07d}", f"+44 20 7946 {line:04d}"]))


def birthday(g: random.Random):
    return None if g.random() < 0.1 else date(1935, 1, 1) + timedelta(days=g.randrange(25000))


def ssn(g: random.Random):
    return maybe(g, f"{g.randint(1, 665):03d}-{g.randint(1, 99):02d}-{g.randint(1, 9999):04d}", null=0.3)


def luhn(payload: str) -> str:
    total = sum(d if i % 2 else (2 * d) // 10 + (2 * d) % 10 for i, d in enumerate(map(int, reversed(payload))))
    return payload + str((10 - total % 10) % 10)


def iban(g: random.Random) -> str:
    country, length = g.choice([("DE", 18), ("AT", 16), ("ES", 20)])
    bban = "".join(str(g.randrange(10)) for _ in range(length))
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def method(g: random.Random) -> dict:
    if g.random() < 0.25:
        return {"kind": "sepa", "iban": iban(g), "holder_name": maybe(g, name(g))}
    return {"kind": "card", "card_number": card(g), "holder_name": name(g),
            "valid_thru": date(2027, 1, 31) + timedelta(days=g.randrange(1500))}


def card(g: random.Random) -> str:
    prefix, length = g.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15)])
    card = luhn(prefix + "".join(str(g.randrange(10)) for _ in range(length - len(prefix) - 1)))
    return " ".join(card[i:i + 4] for i in range(0, len(card), 4)) if g.random() < 0.3 else card


def licence(g: random.Random):
    return maybe(g, g.choice([f"{chr(65 + g.randrange(26))}{g.randrange(10**7):07d}", f"{g.randrange(10**9):09d}",
                               f"S{g.randrange(10**12):012d}"]), null=0.5)


def notes(g: random.Random):
    return maybe(g, g.choice([f"Call patient at ({g.choice(sample.AREA_CODES)}) 555-{g.randrange(10000):04d}",
                               "Pas de substitution — médecin joignable", "Allergisch gegen Penicillin 💊",
                               f"Caregiver: Zoë Nguyễn, zoe.{g.randrange(999)}@example.org",
                               "患者は午前中の配達を希望"]))


def money(g: random.Random) -> Decimal:
    return Decimal(g.randrange(500, 40000)) / 100


def delivery(g: random.Random):
    r = g.random()
    if r < 0.05:
        return None
    if r < 0.1:
        return {}
    value = {"recipient": name(g), "street": f"{g.randint(1, 300)} {g.choice(sample.STREETS)}",
             "city": g.choice(sample.CITIES), "postal_code": f"{g.randrange(10000, 99999)}",
             "instructions": g.choice(sample.INSTRUCTIONS)}
    for k, v in (("phone", phone(g)), ("email", email(g))):
        if v is not None:
            value[k] = v.strip(" ")
    return value


# per table: the columns one update sets, and their new values
CHANGES = {
    "shop.customers": lambda g: g.choice([
        {"email": email(g)}, {"phone": phone(g), "marketing_opt_in": g.random() < 0.5}, {"ssn": ssn(g)},
        {"date_of_birth": birthday(g), "full_name": name(g)}, {"tier": g.choice(["basic", "silver", "gold"])}]),
    "shop.payment_methods": lambda g: g.choice([
        {"kind": "card", "card_number": card(g), "iban": None},
        {"kind": "sepa", "card_number": None, "iban": iban(g)}, {"is_default": g.random() < 0.5},
        {"holder_name": maybe(g, name(g))}]),
    "rx.prescriptions": lambda g: g.choice([
        {"refills_left": g.randrange(4)}, {"driver_license": licence(g)}, {"pharmacist_notes": notes(g)}]),
    "rx.orders": lambda g: g.choice([
        {"status": g.choice(["shipped", "delivered", "cancelled"])}, {"contact_phone": phone(g)},
        {"delivery": delivery(g), "total": money(g)}]),
}
TO_NULL = {
    "shop.customers": lambda g: g.choice([{"email": None}, {"phone": None, "ssn": None}, {"date_of_birth": None}]),
    "shop.payment_methods": lambda g: {"card_number": None, "holder_name": None},
    "rx.prescriptions": lambda g: g.choice([{"driver_license": None}, {"pharmacist_notes": None}]),
    "rx.orders": lambda g: g.choice([{"contact_phone": None}, {"delivery": None}]),
}
