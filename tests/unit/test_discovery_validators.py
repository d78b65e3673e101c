"""Discovery validators: positives in their real variants, decoys that naive regexes flag."""

import random

import pytest

from colcrypt.discovery import validators as v


@pytest.mark.parametrize(("value", "issuer"), [
    ("4111 1111 1111 1111", "visa"), ("4111-1111-1111-1111", "visa"), ("4012888888881881", "visa"),
    ("5555555555554444", "mastercard"), ("2223000048400011", "mastercard"),  # 2-series
    ("378282246310005", "amex"), ("3782 822463 10005", "amex"), ("6011111111111117", "discover"),
    ("3530111333300000", "jcb"), ("30569309025904", "diners"), ("6200000000000005", "unionpay"),
    ("4111111111111111110", "visa"),  # 19 digits
])
def test_card_numbers(value, issuer):
    assert v.card_issuer(value) == issuer


@pytest.mark.parametrize("value", [
    "4111111111111112",  # Luhn fails
    "1234567812345670",  # Luhn passes, no issuer
    "41111111111111111111",  # 20 digits
    "4111 11111111 1111 x", "2024-01-05", "", "9999999999999995",
])
def test_not_card_numbers(value):
    assert v.card_issuer(value) is None


def test_luhn_passes_about_ten_percent_of_random_digits():
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not a key
    passes = sum(v.luhn_ok("".join(rng.choice("0123456789") for _ in range(16))) for _ in range(20000))
    assert 0.08 < passes / 20000 < 0.12


@pytest.mark.parametrize("value", ["123-45-6788", "123 45 6788", "123456788", "001-01-0001", "899-99-9999"])
def test_ssns(value):
    assert v.ssn_ok(value)


@pytest.mark.parametrize("value", [
    "000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999", "123-00-4567", "123-45-0000",
    "078-05-1120", "219-09-9999", "123-45-678", "123-456-789", "12-345-6789", "123-45 6789",
])
def test_not_ssns(value):
    assert not v.ssn_ok(value)


def test_ssn_from_an_integer_column_lost_its_zeros():
    assert v.ssn_ok("1010001", padded=True)  # 001-01-0001
    assert not v.ssn_ok("1010001")


@pytest.mark.parametrize("value", [
    "ada@example.com", "a.b+tag@mail.example.co.uk", "ops@build.corp", "svc@db.internal", "me@host.local",
    "zoë@exämple.de", "user@xn--bcher-kva.example",
])
def test_emails(value):
    assert v.email_ok(value)


@pytest.mark.parametrize("value", ["not an email", "a@b", "@example.com", "a@example.c0m", "a b@example.com",
                                   "a@-example.com", "1.2.3@4"])
def test_not_emails(value):
    assert not v.email_ok(value)


def test_emails_embedded_in_free_text():
    assert v.emails_in_text("Call back, or write to jane.doe@example.org (home) or ops@corp.internal.") == [
        "jane.doe@example.org", "ops@corp.internal"]
    assert v.emails_in_text("version 1.2.3 at build 5") == []


@pytest.mark.parametrize("value", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "NL91ABNA0417164300"])
def test_ibans(value):
    assert v.iban_ok(value)


@pytest.mark.parametrize("value", ["GB82 WEST 1234 5698 7654 33", "DE8937040044053201300", "XX89370400440532013000"])
def test_not_ibans(value):
    assert not v.iban_ok(value)


@pytest.mark.parametrize(("value", "ok"), [
    ("192.168.1.20", True), ("2001:db8::1", True), ("1.2.3", False), ("256.1.1.1", False), ("10.0.0", False),
    ("v1.2.3.4", False),
])
def test_ip_addresses(value, ok):
    assert v.ip_address_ok(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("+1 415 555 2671", True), ("+44 20 7946 0958", True), ("(415) 555-2671", True), ("415.555.2671", True),
    ("1-415-555-2671", True), ("+0123456789", False), ("2024-01-05", False), ("12.345", False),
    ("1700000000", False),  # epoch seconds: area code starts with 1
    ("0123456789", False), ("555-2671", False),
])
def test_phones(value, ok):
    assert v.phone_ok(value) is ok
