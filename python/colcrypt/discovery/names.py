"""Column-name hints by whole tokens, never substrings: `cell` is not in `cancellation`, `ip` is
not in `zip`, and negative tokens (`verified`, `last4`, `type`, `hash`, ...) cancel a hint."""

import re

# classification -> token sequences that suggest it (each a tuple of whole tokens)
HINTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ssn": (("ssn",), ("social", "security"), ("sin",), ("tax", "id"), ("tin",), ("itin",)),
    "credit_card": (("pan",), ("card", "number"), ("card", "no"), ("cc", "number"), ("ccn",), ("credit", "card"),
                    ("card",)),
    "email": (("email",), ("e", "mail"), ("mail",), ("email", "address")),
    "phone": (("phone",), ("mobile",), ("cell",), ("telephone",), ("tel",), ("fax",), ("msisdn",)),
    "iban": (("iban",),),
    "bank_account": (("bank", "account"), ("bank", "acct"), ("bank", "account", "number"), ("bban",),
                     ("account", "no", "bank")),
    "ip_address": (("ip",), ("ip", "address"), ("ipv4",), ("ipv6",), ("client", "ip"), ("remote", "addr")),
    "date_of_birth": (("dob",), ("birth", "date"), ("date", "of", "birth"), ("birthday",), ("birthdate",), ("born",),
                      ("birth", "dt"), ("birth", "day"), ("birth",)),
    "passport": (("passport",), ("passport", "number"), ("passport", "no")),
    "driver_license": (("driver", "license"), ("drivers", "license"), ("driving", "licence"), ("dl", "number")),
}

# tokens that mean the column is about the thing, not the thing itself
NEGATIVE = frozenset({"verified", "verification", "confirmed", "type", "kind", "status", "last4", "last", "four",
                      "mask", "masked", "hash", "hashed", "digest", "token", "count", "flag", "enabled",
                      "opt", "optin", "consent", "format", "country", "expiry", "expires", "exp", "bin",
                      "brand", "issuer", "template", "domain", "place", "city", "year", "weight", "rate", "name",
                      "certificate"})

# Words a run-together token may be made of ("emailaddress", "creditcardnumber", "dateofbirth"); a
# token is split only when it is made of these words entirely, so "zip" never yields "ip".
_WORDS = frozenset({w for patterns in HINTS.values() for p in patterns for w in p if len(w) > 1} | NEGATIVE | {
    "number", "num", "no", "nr", "address", "addr", "id", "home", "work", "primary", "secondary", "alt", "other",
    "customer", "user", "contact", "personal", "private", "business", "billing", "shipping", "emergency", "day",
    "of", "date", "birth", "code", "name", "first", "last", "full", "middle"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _segment(token: str) -> list[str] | None:
    """token as a sequence of _WORDS (fewest words first), or None."""
    best: list[list[str] | None] = [[]] + [None] * len(token)
    for end in range(1, len(token) + 1):
        for start in range(max(0, end - 14), end):
            head = best[start]
            if head is not None and token[start:end] in _WORDS:
                if best[end] is None or len(head) + 1 < len(best[end]):
                    best[end] = [*head, token[start:end]]
    return best[len(token)]


def tokens(name: str) -> list[str]:
    """Split a column name (snake_case, camelCase, kebab, spaces, digits kept as 'last4') into tokens;
    a run-together token ("emailaddress") is split into words when it is made of known words only."""
    parts = [p.lower() for p in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub("_", name)) if p]
    result = []
    for part in parts:
        words = None if part in _WORDS else _segment(part)
        result.extend(words or [part])
    return result


def _contains(seq: list[str], pattern: tuple[str, ...]) -> bool:
    n = len(pattern)
    return any(tuple(seq[i:i + n]) == pattern for i in range(len(seq) - n + 1))


def name_hint(name: str) -> str | None:
    """The classification a column name suggests, or None (also when a negative token is present).
    Longer token sequences win over shorter ones."""
    toks = tokens(name)
    if NEGATIVE.intersection(toks):
        return None
    best, best_len = None, 0
    for classification, patterns in HINTS.items():
        for pattern in patterns:
            if len(pattern) > best_len and _contains(toks, pattern):
                best, best_len = classification, len(pattern)
    return best
