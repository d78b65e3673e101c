"""Column-name hints: whole tokens, negative tokens, no substring false positives."""

import pytest

from colcrypt.discovery.names import name_hint, tokens
from colcrypt.discovery.scoring import checksum_lift, wilson_lower


@pytest.mark.parametrize(("name", "hint"), [
    ("ssn", "ssn"), ("customer_ssn", "ssn"), ("SocialSecurityNumber", "ssn"), ("email", "email"),
    ("EmailAddress", "email"), ("contact-email", "email"), ("mobile_phone", "phone"), ("cell", "phone"),
    ("card_number", "credit_card"), ("PAN", "credit_card"), ("iban", "iban"), ("client_ip", "ip_address"),
    ("date_of_birth", "date_of_birth"), ("dob", "date_of_birth"), ("passport_number", "passport"),
    ("bank_account_number", "bank_account"),
])
def test_name_hints(name, hint):
    assert name_hint(name) == hint


@pytest.mark.parametrize("name", [
    "cancellation_reason", "zip", "zip_code", "passport_type", "email_verified", "card_last4", "cardLast4",
    "shipping_status", "description", "recipient", "card_brand", "email_domain", "phone_country",
    "password_hash", "ip_count", "ssn_masked", "order_number", "account_number",
])
def test_decoy_names_have_no_hint(name):
    assert name_hint(name) is None


def test_tokens():
    assert tokens("cardLast4") == ["card", "last4"]
    assert tokens("HTTPClientIP") == ["http", "client", "ip"]
    assert tokens("date-of birth") == ["date", "of", "birth"]


def test_run_together_names_split_only_into_known_words():
    assert tokens("emailaddress") == ["email", "address"]
    assert tokens("CREDITCARDNUMBER") == ["credit", "card", "number"]
    assert tokens("ssnlast4") == ["ssn", "last4"] and name_hint("ssnlast4") is None
    for word in ("zipcode", "cancellation", "tipping", "shipment"):
        assert tokens(word) == [word]
    assert name_hint("homephone") == "phone" and name_hint("dateofbirth") == "date_of_birth"
    assert name_hint("birth_place") is None and name_hint("birthplace") is None and name_hint("birth_year") is None


def test_wilson_lower_bound_grows_with_sample_size():
    assert wilson_lower(0, 0) == 0.0
    small, large = wilson_lower(10, 10), wilson_lower(5000, 5000)
    assert 0.65 < small < 0.75 and large > 0.999
    assert wilson_lower(50, 100) < 0.5


def test_checksum_lift():
    assert checksum_lift(1000, 1000, 0.1) == pytest.approx(10.0)
    assert checksum_lift(100, 1000, 0.1) == pytest.approx(1.0)
    assert checksum_lift(0, 0, 0.1) == 0.0


def test_segmentation_needs_real_words():
    assert name_hint("borne") is None and name_hint("birthname") is None and name_hint("birth_certificate") is None
