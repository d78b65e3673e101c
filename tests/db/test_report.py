"""colcrypt report: the compliance report in JSON, Markdown and HTML, from a database where a table went
through every step (with a rollback rehearsal), one is half-way, and one has nothing migrated."""

import base64
import datetime
import json
from html.parser import HTMLParser

import psycopg
import pytest

from colcrypt.cli import main
from colcrypt.report import collect, html, markdown

ROWS = 40
ODD = 'crm."<script>alert(1)</script>"'  # a name that is markup, to check the escaping
ODD_COLUMN = "note|<b>&"
HEADINGS = ["Generated", "Summary", "Discovery findings and decisions", "Columns encrypted", "Keys",
            "Validation results", "Performance against the baseline", "Rollback rehearsal", "Timings",
            "Where plaintext may remain", "Event log integrity"]
FULL_RUN = ["prepare", "backfill start", "backfill end", "validated", "cutover reads", "cutover writes", "finalize",
            "cleanup"]


@pytest.fixture
def migrated(conn):
    conn.execute(f"""
        CREATE SCHEMA crm;
        CREATE TABLE crm.customers (id int PRIMARY KEY, ssn text, email text, born date);
        INSERT INTO crm.customers SELECT g, lpad(g::text, 3, '0') || '-45-6789', 'u' || g || '@x.org',
               DATE '1970-01-01' + g FROM generate_series(1, {ROWS}) g;
        CREATE TABLE {ODD} (id int PRIMARY KEY, "{ODD_COLUMN}" text);
        INSERT INTO {ODD} SELECT g, (100 + g) || '-45-' || lpad(g::text, 4, '0') FROM generate_series(1, {ROWS}) g""")
    conn.execute("SELECT * FROM colcrypt.discover(ARRAY['crm'])")
    conn.execute("SELECT colcrypt.capture_baseline('before', p_start => colcrypt.baseline_snapshot())")
    for step in ("prepare", "rehearse", "prepare", "finish"):
        if step == "prepare":
            conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn', 'email'], 'k', ARRAY['email'])")
            conn.execute("CALL colcrypt.backfill('crm.customers')")
            conn.execute("SELECT colcrypt.validate('crm.customers')")
            conn.execute("SELECT colcrypt.cutover('crm.customers', 'reads')")
        elif step == "rehearse":
            conn.execute("SELECT colcrypt.rollback('crm.customers')")
        else:
            conn.execute("SELECT colcrypt.cutover('crm.customers', 'writes')")
            conn.execute("SELECT colcrypt.finalize('crm.customers')")
            conn.execute("SELECT colcrypt.cleanup('crm.customers', '0')")
    conn.execute("SELECT * FROM colcrypt.compare_baseline('before', p_start => colcrypt.baseline_snapshot())")
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY[%s], 'k')", (ODD, ODD_COLUMN))
    conn.execute("CALL colcrypt.backfill(%s)", (ODD,))
    return conn


def test_the_json_report_holds_every_section(db, migrated):
    report = collect.collect(migrated)
    assert list(report) == ["generated", "summary", "discovery", "columns", "keys", "key_events", "validations",
                            "performance", "rollbacks", "timings", "residue", "audit"]
    assert json.loads(json.dumps(report)) == report
    g = report["generated"]
    assert (g["database"], g["by_role"]) == (db.name, "postgres")
    assert g["colcrypt_version"] == migrated.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'colcrypt'").fetchone()[0]

    s = report["summary"]
    assert {t["table"]: t["state"] for t in s["tables"]} == {"crm.customers": "cleaned", ODD: "backfilled"}
    assert (s["encrypted"], s["in_progress"], s["rolled_back"], s["audit"], s["problems"]) == (1, 1, 0, "intact", [])

    decisions = {f["column_name"]: f["decision"] for f in report["discovery"]["findings"]}
    assert decisions == {"ssn": "encrypted", "email": "encrypted", "born": "not encrypted", ODD_COLUMN: "pending"}

    columns = {(c["table"], c["column"]): c for c in report["columns"]}
    assert set(columns) == {("crm.customers", "ssn"), ("crm.customers", "email"), (ODD, ODD_COLUMN)}
    ssn, email = columns["crm.customers", "ssn"], columns["crm.customers", "email"]
    assert (ssn["data_type"], ssn["algorithm"], ssn["format_versions"], ssn["key_id"]) == (
        "text", "AES-256-GCM", [1], "k")
    assert ssn["key_versions"] == [{"key_id": "k", "version": 1, "values": ROWS}]
    assert (ssn["blind_index"], email["blind_index"]) == (False, True)

    [key] = report["keys"]
    [version] = key["versions"]
    assert (key["key_id"], version["version"], version["provider"], version["state"]) == ("k", 1, "local", "active")
    assert version["kek_ref"] and version["values_in_use"] == 3 * ROWS
    assert [g["grantee"] for g in key["grants"]] == ["postgres"]
    assert [(e["event"], e["key_id"], e["version"], e["role"]) for e in report["key_events"]] == [
        ("key version created", "k", 1, None), ("key granted", "k", None, "postgres")]

    validations = report["validations"]
    assert [(v["table_name"], v["total"], v["valid"], v["mismatched"], v["missing"], v["orphaned"], v["outcome"])
            for v in validations] == [("crm.customers", ROWS, ROWS, 0, 0, 0, "passed")] * 2

    [baseline] = report["performance"]["baselines"]
    assert baseline["label"] == "before" and len(baseline["comparisons"]) == 1
    assert {r["metric"] for r in baseline["comparisons"][0]["results"]} >= {"tps"}

    [rollback] = report["rollbacks"]
    assert (rollback["table_name"], rollback["from_state"], rollback["migrated_again"]) == (
        "crm.customers", "cutover_reads", True)
    assert rollback["switch_ms"] > 0

    timings = {t["migration_id"]: t for t in report["timings"]}
    rehearsal, final = (timings[m] for m in sorted(timings)[:2])
    assert [p["phase"] for p in rehearsal["phases"]] == FULL_RUN[:5] + ["rollback"]
    assert [p["phase"] for p in final["phases"]] == FULL_RUN
    ats = [datetime.datetime.fromisoformat(p["at"]) for p in final["phases"]]
    assert ats == sorted(ats) and all(p["since_previous_s"] >= 0 for p in final["phases"][1:])
    assert final["phases"][4]["switch_ms"] > 0  # the read cutover's switch

    residue = {r["table"]: r for r in report["residue"]}
    cleaned, live = residue["crm.customers"], residue[ODD]
    assert cleaned["measured"] and cleaned["measured_at"]
    assert "crm.customers_plaintext dropped" in cleaned["places"][0]["detail"]
    assert {"WAL", "pg_stat_statements and client-side logs"} <= {p["place"] for p in cleaned["places"]}
    assert live["measured"] and live["error"] is None
    assert live["places"][0]["place"] == "plaintext table" and {"WAL", "server log"} <= {
        p["place"] for p in live["places"]}  # the test cluster logs every statement

    audit = report["audit"]
    logged = migrated.execute("SELECT count(*) FROM colcrypt.migration_events").fetchone()[0]
    assert (audit["verdict"], audit["problem"], audit["events"], audit["logged"]) == ("intact", None, logged, logged)


def test_markdown_has_the_sections_in_order_and_escapes_names(migrated):
    text = markdown.render(collect.collect(migrated))
    positions = [text.index(f"\n## {h}\n") for h in HEADINGS]
    assert positions == sorted(positions)
    assert "| crm.customers | ssn | text | AES-256-GCM | 1 | k | v1: 40 values | no |" in text
    assert "| crm.customers | 1 | cutover_reads |" in text and "No rollback rehearsed" not in text
    assert "Intact: " in text and "| local |" in text
    assert "<script>" not in text and "crm.\"&lt;script&gt;alert(1)&lt;/script&gt;\"" in text
    assert "note\\|&lt;b&gt;&amp;" in text  # a pipe in a name does not split the cell
    assert markdown.escape("two\nlines | *x*") == "two lines \\| \\*x\\*"  # nor does a line break end the row


class _Page(HTMLParser):
    """Checks nesting and collects tags, attributes and text."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, (tag, self.open)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_one_well_formed_page_with_everything_escaped(migrated):
    page = html.render(collect.collect(migrated))
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.open == [] and parser.tags[0] == "html"
    assert "script" not in parser.tags and not {"link", "img", "iframe", "object"} & set(parser.tags)
    assert not [a for a in parser.attrs if a[0] in ("src", "href") or a[0].startswith("on")]
    text = "".join(parser.text)
    assert all(h in text for h in HEADINGS)
    assert ODD in text and ODD_COLUMN in text  # shown as text, after unescaping
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_key_material_in_any_format(db, migrated, capsys):
    wrapped, kcv = migrated.execute("SELECT wrapped_key, kcv FROM colcrypt.key_versions").fetchone()
    report = collect.collect(migrated)
    forms = [bytes(wrapped).hex(), base64.b64encode(bytes(wrapped)).decode(), bytes(wrapped)[:12].hex()]
    assert main(["report", "--dsn", db.dsn, "--format", "json"]) == 0
    outputs = [json.dumps(report), markdown.render(report), html.render(report), capsys.readouterr().out]
    for out in outputs:
        assert not [f for f in forms if f in out.lower()], "a wrapped key reached the report"
        assert "wrapped_key" not in out
    assert bytes(kcv).hex() in outputs[0]  # the key check value identifies the key and is shown


def test_cli_formats_output_file_and_choices(db, migrated, capsys, tmp_path):
    assert main(["report", "--dsn", db.dsn, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["audit"] == "intact"
    assert main(["report", "--dsn", db.dsn]) == 0
    assert capsys.readouterr().out.startswith("# colcrypt compliance report\n")
    target = tmp_path / "audit.html"
    assert main(["report", "--dsn", db.dsn, "--format", "html", "--output", str(target)]) == 0
    assert capsys.readouterr().out == "" and list(tmp_path.iterdir()) == [target]
    assert target.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(SystemExit) as info:
        main(["report", "--dsn", db.dsn, "--format", "pdf"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_exit_3_when_the_event_log_was_edited(db, migrated, capsys):
    migrated.execute("SET session_replication_role = replica")  # a superuser bypassing the triggers
    migrated.execute("UPDATE colcrypt.migration_events SET detail = '{}' WHERE event = 'rollback'")
    migrated.execute("RESET session_replication_role")
    assert main(["report", "--dsn", db.dsn, "--format", "json"]) == 3
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["audit"]["verdict"] == "broken" and "was changed after it was logged" in report["audit"]["problem"]
    assert "hash chain is broken" in err
    assert main(["report", "--dsn", db.dsn]) == 3
    assert "BROKEN after" in capsys.readouterr().out


def test_exit_3_when_the_latest_validation_found_differences(db, migrated, capsys):
    migrated.execute('DELETE FROM crm."<script>alert(1)</script>_encrypted" WHERE id = 3')
    migrated.execute("SELECT colcrypt.validate(%s)", (ODD,))
    assert main(["report", "--dsn", db.dsn, "--format", "json"]) == 3
    out, err = capsys.readouterr()
    failed = json.loads(out)["summary"]["failed_validations"]
    assert len(failed) == 1 and f"{ODD}: the latest validation" in err and "1 missing" in err


def test_a_database_with_nothing_migrated(db, conn, capsys):
    report = collect.collect(conn)
    assert report["summary"]["tables"] == [] and report["columns"] == [] and report["residue"] == []
    assert report["audit"]["verdict"] == "intact" and report["audit"]["events"] == 2  # key k created, granted
    assert [k["key_id"] for k in report["keys"]] == ["k"]
    assert main(["report", "--dsn", db.dsn]) == 0
    text = capsys.readouterr().out
    for line in ("No table has been migrated.", "No discovery run recorded", "No column is encrypted.",
                 "No validation run.", "No baseline captured.", "No rollback rehearsed.", "No migration recorded."):
        assert line in text, line
    page = html.render(report)
    parser = _Page()
    parser.feed(page)
    assert parser.open == [] and "No rollback rehearsed." in "".join(parser.text)


def test_a_release_without_a_hash_chain_is_reported_as_not_verifiable(cluster, capsys):
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE colcrypt_010")
    try:
        with psycopg.connect(cluster.dsn("colcrypt_010"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION colcrypt VERSION '0.1.0' CASCADE")
            report = collect.collect(conn)
        assert report["audit"]["verdict"] == report["summary"]["audit"] == "not verifiable"
        assert main(["report", "--dsn", cluster.dsn("colcrypt_010")]) == 0  # nothing is broken
        assert "Not verifiable: colcrypt 0.1.0 keeps no hash chain" in capsys.readouterr().out
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("DROP DATABASE colcrypt_010")


def test_a_database_without_colcrypt(cluster, capsys):
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE no_colcrypt")
    try:
        assert main(["report", "--dsn", cluster.dsn("no_colcrypt")]) == 1
        err = capsys.readouterr().err
        assert "error [KC010]" in err and "colcrypt is not installed in database 'no_colcrypt'" in err
        assert "HINT: " in err
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("DROP DATABASE no_colcrypt")
