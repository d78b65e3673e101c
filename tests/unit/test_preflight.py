"""Which statements preflight reports, from pg_stat_statements' normalized texts."""

from colcrypt.migrate.preflight import statement_findings

STATEMENTS = [
    ("SELECT * FROM crm.customers WHERE id = $1", 900),
    ("SELECT id FROM customers WHERE email = $1", 500),
    ('SELECT id FROM "crm"."customers" WHERE "ssn" IN ($1, $2)', 40),
    ("SELECT * FROM crm.customers WHERE email LIKE $1 ORDER BY born", 7),
    ("SELECT * FROM crm.customers WHERE born BETWEEN $1 AND $2", 3),
    ("INSERT INTO crm.customers (id, email) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", 12),
    ("TRUNCATE crm.customers", 1),
    ("ALTER TABLE crm.customers ADD COLUMN x int", 1),
    ("SELECT * FROM crm.customers_archive WHERE email = $1", 99),  # another table
    ("SELECT * FROM other.customers WHERE email = $1", 99),  # another schema
    ("SELECT * FROM crm.customers WHERE emails = $1", 5),  # another column
]


def kinds(findings):
    return sorted((f["kind"], f["calls"]) for f in findings)


def test_each_kind_of_statement_is_found_once_with_its_calls():
    found = statement_findings(STATEMENTS, "crm", "customers", ["email", "ssn", "born"], [])
    assert kinds(found) == sorted([
        ("equality_on_encrypted", 500), ("equality_on_encrypted", 40), ("range_or_order_on_encrypted", 7),
        ("range_or_order_on_encrypted", 7), ("range_or_order_on_encrypted", 3), ("on_conflict", 12),
        ("truncate", 1), ("alter", 1)])
    assert all(f["remedy"] for f in found)
    assert "add a blind index" in next(f["remedy"] for f in found if f["calls"] == 500)


def test_a_blind_index_changes_the_remedy_and_mixed_case_names_need_their_quotes():
    found = statement_findings([('SELECT 1 FROM "CRM"."Customers" WHERE "Email" = $1', 3),
                                ("SELECT 1 FROM crm.customers WHERE email = $1", 3)], "CRM", "Customers", ["Email"],
                               ["Email"])
    assert [f["calls"] for f in found] == [3] and "has a blind index" in found[0]["remedy"]


def test_assignments_are_not_comparisons():
    found = statement_findings([
        ("UPDATE crm.customers SET email = $1, ssn = ssn WHERE id = $2", 10),
        ("UPDATE crm.customers SET born = $1 RETURNING email", 11),
        ("INSERT INTO crm.customers (id, email) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET email = $3", 12),
        ("UPDATE crm.customers SET note = $1 WHERE email = $2", 13),  # a real lookup by the encrypted column
        ("UPDATE crm.customers SET note = (SELECT max(c.note) FROM crm.customers c WHERE c.ssn = $1)", 14),
    ], "crm", "customers", ["email", "ssn", "born"], [])
    assert kinds(found) == [("equality_on_encrypted", 13), ("equality_on_encrypted", 14), ("on_conflict", 12)]
