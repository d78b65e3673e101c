"""Judging one column from a sample of its values: what kind of sensitive data it holds, how sure
we are, and why. Pure Python: the in-database scan feeds it sampled values."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from colcrypt.discovery import validators as v
from colcrypt.discovery.names import name_hint
from colcrypt.discovery.scoring import checksum_lift, wilson_lower

INTEGER_TYPES = frozenset({"smallint", "integer", "bigint", "numeric"})
DATE_TYPES = frozenset({"date", "timestamp without time zone", "timestamp with time zone"})
WHOLE_THRESHOLD = 0.5  # lower confidence bound of the match ratio a whole-value kind must reach
_CARD_CANDIDATE = re.compile(r"^\d[\d -]{10,22}\d$")


@dataclass
class Finding:
    classification: str | None
    confidence: float
    match_ratio: float
    sample_size: int
    match_kind: str  # 'whole', 'embedded', 'name' or ''
    reason: dict = field(default_factory=dict)


def _leaves(value: str, data_type: str) -> Iterable[tuple[str, str]]:
    """(key path, text) of every scalar in a json/jsonb/array value, or the value itself."""
    if data_type in ("json", "jsonb") or data_type.endswith("[]"):
        try:
            doc = json.loads(value)
        except ValueError:
            yield "", value
            return
        stack = [("", doc)]
        while stack:
            path, node = stack.pop()
            if isinstance(node, dict):
                stack.extend((f"{path}.{k}" if path else str(k), n) for k, n in node.items())
            elif isinstance(node, list):
                stack.extend((path, n) for n in node)
            elif node is not None:
                yield path, str(node)
    else:
        yield "", value


def _mask(value: str) -> str:
    """Keep the shape, hide the content: 123-45-6789 -> ***-**-*789, ada@example.com -> a**@e******.com"""
    if "@" in value:
        local, _, domain = value.partition("@")
        head, _, tld = domain.rpartition(".")
        return f"{local[:1]}{'*' * (len(local) - 1)}@{head[:1]}{'*' * (len(head) - 1)}.{tld}"
    chars = [("*" if c.isalnum() else c) for c in value]
    keep = 3 if len(value) > 8 else 0
    return "".join(chars[:len(chars) - keep]) + value[len(value) - keep:] if keep else "".join(chars)


def classify(column: str, data_type: str, values: list[str | None]) -> Finding:
    """Classify a column from its name, type and sampled values (their text forms; NULLs allowed)."""
    hint = name_hint(column)
    present = [x for x in values if x is not None and x.strip() != ""]
    n = len(present)
    reason: dict = {"name_hint": hint}
    if n == 0:
        if hint:
            return Finding(hint, 0.3, 0.0, 0, "name", {**reason, "note": "no values sampled; name only"})
        return Finding(None, 0.0, 0.0, 0, "", reason)

    is_int = data_type in INTEGER_TYPES
    whole: dict[str, list[str]] = {k: [] for k in ("ssn", "credit_card", "email", "phone", "iban", "ip_address")}
    embedded = {"email": 0, "ssn": 0, "credit_card": 0, "phone": 0}  # rows with the kind inside text
    embedded_examples: dict[str, list[str]] = {k: [] for k in embedded}
    dashed_ssn = punctuated_phone = card_candidates = card_luhn = loose_phones = dates = documents = accounts = 0
    leaf_paths: set[str] = set()
    # Counts are of rows (a row counts once however many leaves match), except the Luhn pass rate,
    # which is over candidate leaves.
    for value in present:
        row: dict[str, str] = {}  # kind -> the first leaf of this row that is one
        found_inside: set[str] = set()
        for path, leaf in _leaves(value, data_type):
            if path:
                leaf_paths.add(path)
            if v.ssn_ok(leaf, padded=is_int):
                row.setdefault("ssn", leaf)
            if _CARD_CANDIDATE.match(leaf.strip()) or (is_int and 12 <= len(leaf) <= 19):
                card_candidates += 1
                card_luhn += v.luhn_ok(v.digits_only(leaf))
                if v.card_issuer(leaf):
                    row.setdefault("credit_card", leaf)
            if v.email_ok(leaf):
                row.setdefault("email", leaf)
            if v.phone_ok(leaf):
                row.setdefault("phone", leaf)
            elif hint == "phone" and v.phone_like(leaf):
                row.setdefault("loose_phone", leaf)
            if v.iban_ok(leaf):
                row.setdefault("iban", leaf)
            if v.ip_address_ok(leaf):
                row.setdefault("ip_address", leaf)
            if v.date_like(leaf):
                row.setdefault("date", leaf)
            if v.document_number_like(leaf):
                row.setdefault("document", leaf)
            if v.account_number_like(leaf):
                row.setdefault("account", leaf)
            # Inside text: e-mails in any value that is not one (also "a@b.com;c@d.org"), the
            # number kinds only in free text, where separators cannot be mistaken for them.
            free_text = " " in leaf.strip()
            for kind, finder in (("email", v.emails_in_text), ("ssn", v.ssns_in_text),
                                 ("credit_card", v.cards_in_text), ("phone", v.phones_in_text)):
                if (kind == "email" and "email" not in row) or free_text:
                    inside = finder(leaf)
                    if inside and not (len(inside) == 1 and inside[0] == leaf.strip()):
                        found_inside.add(kind)
                        embedded_examples[kind].append(inside[0])
        for kind in found_inside:
            embedded[kind] += 1
        for kind, leaf in row.items():
            if kind in whole:
                whole[kind].append(leaf)
        dashed_ssn += "ssn" in row and v.ssn_is_dashed(row["ssn"])
        punctuated_phone += "phone" in row and not row["phone"].strip().isdigit()
        loose_phones += "loose_phone" in row and "phone" not in row
        dates += "date" in row
        documents += "document" in row
        accounts += "account" in row or "iban" in row

    path_hints = {name_hint(p.rsplit(".", 1)[-1]) for p in leaf_paths} - {None}
    candidates = []
    for kind, matches in whole.items():
        ratio = len(matches) / n
        bound = wilson_lower(len(matches), n)
        named_and_valid = matches and (kind in path_hints or (hint == kind and ratio >= 0.9))
        if bound < WHOLE_THRESHOLD and not named_and_valid:  # a small sample needs the name to agree
            continue
        detail = {"matches": len(matches), "bound": round(bound, 3),
                  "examples": sorted({_mask(m) for m in matches[:50]})[:3]}
        named = hint == kind or kind in path_hints
        # Structure alone is weak for bare 9-digit SSNs and 10-digit phones: ask for punctuation or a name.
        if kind == "ssn" and not named and dashed_ssn < len(matches) / 2:
            continue
        if kind == "phone" and punctuated_phone < len(matches) / 2 and (not named or ratio < 0.9):
            continue  # bare digits: about half of random 10-digit ids pass, so nearly all must, name or not
        if kind == "credit_card":
            lift = checksum_lift(card_luhn, card_candidates, 0.1)
            detail["luhn_lift"] = round(lift, 2)
            if lift < 5:  # real card columns pass Luhn ~10x more often than chance
                continue
        confidence = min(1.0, bound + (0.1 if named else 0.0))
        candidates.append((confidence, ratio, kind, detail))

    if candidates:
        confidence, ratio, kind, detail = max(candidates)
        return Finding(kind, round(confidence, 3), round(ratio, 4), n, "whole", {**reason, **detail})

    if hint == "date_of_birth" and (data_type in DATE_TYPES or dates >= 0.5 * n):
        return Finding("date_of_birth", 0.9, round(dates / n, 4) if data_type not in DATE_TYPES else 1.0, n, "whole",
                       {**reason, "note": "dates in a column with a birth-date name"})
    if hint == "phone" and loose_phones + len(whole["phone"]) >= 0.9 * n:
        ratio = (loose_phones + len(whole["phone"])) / n
        return Finding("phone", round(min(0.9, wilson_lower(loose_phones + len(whole["phone"]), n)), 3),
                       round(ratio, 4), n, "whole", {**reason, "note": "phone-shaped national numbers, phone name"})
    rows_inside, kind = max((count, k) for k, count in embedded.items())
    if rows_inside >= 2 and rows_inside / n >= 0.005:
        return Finding(kind, round(min(0.9, 0.5 + rows_inside / n), 3), round(rows_inside / n, 4), n, "embedded",
                       {**reason, "rows_with_matches": rows_inside,
                        "examples": sorted({_mask(m) for m in embedded_examples[kind][:50]})[:3],
                        "also_inside": {k: c for k, c in embedded.items() if c and k != kind}})
    if hint == "bank_account" and accounts >= 0.8 * n:
        return Finding("bank_account", 0.6, round(accounts / n, 4), n, "name",
                       {**reason, "note": "account-number-shaped values under a bank-account name; no checksum"})
    if hint in ("passport", "driver_license") and documents >= 0.8 * n:
        return Finding(hint, 0.6, round(documents / n, 4), n, "name",
                       {**reason, "note": "document-number-shaped values under a document name; no checksum"})
    return Finding(None, 0.0, 0.0, n, "", reason)
