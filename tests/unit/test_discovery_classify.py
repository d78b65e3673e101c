"""Column classification from sampled values: positives, and the decoys that fool naive scanners."""

import random

import pytest

from colcrypt.discovery.classify import classify

rng = random.Random(42)  # noqa: S311 - reproducible test data


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for d in "0123456789":
        digits = body + d
        total = sum((int(c) * 2 - 9 if int(c) > 4 else int(c) * 2) if i % 2 else int(c)
                    for i, c in enumerate(reversed(digits)))
        if total % 10 == 0:
            return digits
    raise AssertionError


def _ssn() -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


CASES = {
    "ssn_dashed": ("tax_ref", "text", [_ssn() for _ in range(500)], "ssn"),
    "ssn_bare_named": ("ssn", "text", [_ssn().replace("-", "") for _ in range(500)], "ssn"),
    "ssn_integer_named": ("ssn", "integer", [str(int(_ssn().replace("-", ""))) for _ in range(500)], "ssn"),
    "cards": ("payment", "text", [_luhn_complete(rng.choice(["4", "51", "2221", "37"]), 16) for _ in range(500)],
              "credit_card"),
    "emails": ("contact", "text", [f"user{i}@corp.internal" for i in range(500)], "email"),
    "phones": ("contact_no", "text", [f"+1 415 555 {rng.randint(1000, 9999)}" for _ in range(500)], "phone"),
    "ibans_in_jsonb": ("payload", "jsonb", ['{"bank": {"iban": "DE89370400440532013000"}, "n": 1}'] * 200, "iban"),
    "emails_in_notes": ("notes", "text", ["call back tomorrow"] * 990 +
                        [f"customer wrote from jane{i}@example.org about it" for i in range(10)], "email"),
    "empty_named": ("customer_email", "text", [], "email"),
    "dob": ("date_of_birth", "date", ["1980-01-02"] * 50, "date_of_birth"),
    "dob_as_text": ("BirthDt", "character varying(10)", [f"{m:02d}/14/1971" for m in range(1, 13)] * 20,
                    "date_of_birth"),
    "run_together_name": ("emailaddress", "text", [], "email"),
    "uk_national_phones": ("home_phone", "text", [f"020 7946 {rng.randint(1000, 9999)}" for _ in range(300)],
                           "phone"),
    "ssns_in_notes": ("remarks", "text", ["all fine"] * 480 + [f"verified SSN {_ssn()} by phone" for _ in range(20)],
                      "ssn"),
    "cards_in_notes": ("comments", "text", ["n/a"] * 290 +
                       [f"paid with {_luhn_complete('4', 16)} today" for _ in range(10)], "credit_card"),
    "phones_in_tickets": ("body", "text", ["printer broken"] * 280 +
                          [f"please call me on (415) 555-{rng.randint(1000, 9999)} after 5" for _ in range(20)],
                          "phone"),
    "passport_numbers": ("passport_number", "text", [f"X{rng.randint(10**7, 10**8 - 1)}" for _ in range(200)],
                         "passport"),
    "emails_run_together": ("recipients", "text", [f"a{i}@x.org;b{i}@y.org" for i in range(100)], "email"),
    "bank_accounts": ("bank_account_no", "text", [f"{rng.randint(10**7, 10**10)}" for _ in range(200)],
                      "bank_account"),
    "ibans_under_a_bank_name": ("bank_account", "text", ["GB82 WEST 1234 5698 7654 32"] * 100, "iban"),
    "ips_in_inet": ("last_login_from", "inet", [f"10.1.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                                                for _ in range(200)], "ip_address"),
}

DECOYS = {
    "order_numbers": ("order_number", "bigint", [str(rng.randint(10**15, 10**16 - 1)) for _ in range(500)]),
    "epoch_seconds": ("created_epoch", "bigint", [str(rng.randint(1_500_000_000, 1_800_000_000)) for _ in range(500)]),
    "bare_9_digit_ids": ("badge_id", "text", [f"{rng.randint(100000000, 899999999)}" for _ in range(500)]),
    "zip_plus4": ("zip", "text", [f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}" for _ in range(500)]),
    "versions": ("version", "text", [f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"
                                     for _ in range(500)]),
    "last4": ("card_last4", "text", [f"{rng.randint(0, 9999):04d}" for _ in range(500)]),
    "verified_flags": ("email_verified", "boolean", ["true", "false"] * 250),
    "passport_type": ("passport_type", "text", ["regular", "diplomatic"] * 250),
    "cancellation": ("cancellation_reason", "text", ["changed my mind", "too expensive"] * 250),
    "cell_ids": ("cell_id", "bigint", [str(rng.randint(10**6, 10**10)) for _ in range(300)]),
    "customer_account_numbers": ("account_number", "bigint", [str(10**9 + i * 7) for i in range(300)]),
    "birth_place": ("birth_place", "text", ["Lyon", "Oslo", "Austin"] * 100),
    "birthplace_empty": ("birth_city", "text", []),
    "passport_issue_dates": ("passport_issued", "date", ["2019-05-01"] * 200),
    "dates_in_notes": ("notes", "text", [f"shipped 2024-03-{d:02d} in 2 boxes, ref 123-4567"
                                         for d in range(1, 29)] * 10),
    "prices_in_text": ("description", "text", ["pack of 12 for 1234.56 or 4 for 411.25 (SKU 4111-2222)"] * 300),
    "ten_digit_ids": ("account_ref", "bigint", [str(rng.randint(2_000_000_000, 9_999_999_999)) for _ in range(500)]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_positive_columns(case):
    column, data_type, values, expected = CASES[case]
    finding = classify(column, data_type, values)
    assert finding.classification == expected, finding
    assert 0 < finding.confidence <= 1
    for example in finding.reason.get("examples", []):
        assert example not in values, "examples must be masked"


@pytest.mark.parametrize("case", DECOYS, ids=list(DECOYS))
def test_decoy_columns_stay_clean(case):
    column, data_type, values = DECOYS[case]
    assert classify(column, data_type, values).classification is None


def test_rows_count_once_however_many_leaves_match():
    docs = ['{"to": ["a@example.com", "b@example.com", "c@example.com"], "cc": "d@example.com"}'] * 40
    finding = classify("recipients", "jsonb", docs)
    assert finding.classification == "email" and finding.match_ratio == 1.0 and finding.reason["matches"] == 40


def test_nulls_are_not_counted():
    finding = classify("contact", "text", [None] * 500 + [f"u{i}@example.com" for i in range(100)])
    assert finding.classification == "email" and finding.sample_size == 100 and finding.match_ratio == 1.0


def test_a_few_valid_values_count_when_the_name_agrees():
    assert classify("ssn_number", "bigint", ["1010001"]).classification == "ssn"
    assert classify("badge", "bigint", ["1010001"]).classification is None
