"""encrypt_value / decrypt_value restore every common column type exactly, whatever the
session's DateStyle, TimeZone, IntervalStyle, extra_float_digits or bytea_output."""

import pytest

from tests.db.helpers import scalar

CASES = [
    ("text", "'Zoë 東京'"),
    ("varchar(12)", "'abc'"),
    ("char(10)", "'ab'"),
    ("date", "'1987-03-04'"),
    ("date", "'infinity'"),
    ("timestamp", "'2024-02-29 23:59:59.123456'"),
    ("timestamptz", "'2024-07-01 12:34:56.789+05:30'"),
    ("time", "'13:14:15.5'"),
    ("interval", "'1 year 2 mons 3 days 04:05:06.5'"),
    ("numeric(12,2)", "'12345.60'"),
    ("numeric", "'-0.000000000000000000001234567890123456789'"),
    ("integer", "-2147483648"),
    ("bigint", "9223372036854775807"),
    ("smallint", "-7"),
    ("real", "0.1"),
    ("double precision", "0.1"),
    ("boolean", "false"),
    ("jsonb", """'{"ssn": "123-45-6789", "tags": [1, 2.50, null], "ü": true}'"""),
    ("json", """'{ "b":1,  "a" : [ 2 ] }'"""),
    ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    ("bytea", "'\\x00ff10'"),
    ("inet", "'192.168.1.20/24'"),
    ("text[]", """ARRAY['a', NULL, 'b,c', '"q"', '']"""),
    ("integer[]", "'{{1,2},{3,4}}'"),
    ("date[]", "ARRAY['2020-01-02'::date, NULL]"),
]

SESSIONS = [
    ("ISO, MDY", "UTC", "postgres", "1", "hex"),
    ("SQL, DMY", "America/New_York", "sql_standard", "0", "escape"),
    ("German", "Asia/Kolkata", "iso_8601", "-15", "hex"),
]


def _set_session(conn, datestyle, tz, intervalstyle, efd, bytea_output):
    conn.execute(f"SET datestyle = '{datestyle}'")
    conn.execute(f"SET timezone = '{tz}'")
    conn.execute(f"SET intervalstyle = '{intervalstyle}'")
    conn.execute(f"SET extra_float_digits = {efd}")
    conn.execute(f"SET bytea_output = '{bytea_output}'")


@pytest.mark.parametrize(("typ", "literal"), CASES, ids=[f"{t}:{v[:12]}" for t, v in CASES])
def test_type_round_trip_across_sessions(conn, typ, literal):
    _set_session(conn, *SESSIONS[1])
    ct = scalar(conn, f"SELECT colcrypt.encrypt_value(({literal})::{typ}, 'k', 'c')")
    _set_session(conn, *SESSIONS[2])
    as_ = "::text" if typ == "json" else ""  # json has no equality operator
    same = scalar(conn, f"""
        SELECT colcrypt.decrypt_value(%s, 'c', NULL::{typ})::{typ}{as_} IS NOT DISTINCT FROM ({literal})::{typ}{as_}
           AND pg_typeof(colcrypt.decrypt_value(%s, 'c', NULL::{typ}))::text
               = format_type(to_regtype('{typ}'), NULL)""", (ct, ct))
    assert same is True
    # The exact text form too (json keeps its spacing, numeric its scale, char(n) its padding).
    _set_session(conn, *SESSIONS[0])
    assert scalar(conn, f"SELECT colcrypt.decrypt_value(%s, 'c', NULL::{typ})::{typ}::text", (ct,)) == \
        scalar(conn, f"SELECT (({literal})::{typ})::text")


def test_null_of_any_type(conn):
    assert scalar(conn, "SELECT colcrypt.encrypt_value(NULL::date, 'k', 'c')") is None
    assert scalar(conn, "SELECT colcrypt.decrypt_value(NULL, 'c', NULL::date)") is None


def test_float_is_exact(conn):
    conn.execute("SET extra_float_digits = -15")
    ct = scalar(conn, "SELECT colcrypt.encrypt_value(0.1::float8 + 0.2::float8, 'k', 'c')")
    assert scalar(conn, "SELECT colcrypt.decrypt_value(%s, 'c', NULL::float8) = 0.1::float8 + 0.2::float8", (ct,))
