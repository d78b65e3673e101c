"""colcrypt install: idempotent, and clear about what stops it."""

import psycopg

from colcrypt.cli import main


def _fresh(cluster, name):
    with psycopg.connect(cluster.dsn(), autocommit=True) as su:
        su.execute(f'DROP DATABASE IF EXISTS "{name}"')
        su.execute(f'CREATE DATABASE "{name}"')
    return cluster.dsn(name)


def test_install_creates_then_does_nothing(cluster, capsys):
    dsn = _fresh(cluster, "inst1")
    assert main(["install", "--dsn", dsn]) == 0
    assert "created extension colcrypt 0.1.0 (with pgcrypto and plpython3u)" in capsys.readouterr().out
    assert main(["install", "--dsn", dsn]) == 0
    assert "already installed; nothing to do" in capsys.readouterr().out
    with psycopg.connect(dsn) as conn:
        exts = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
    assert exts["colcrypt"] == "0.1.0" and "pgcrypto" in exts and "plpython3u" in exts


def test_install_needs_a_superuser_and_says_so(cluster, capsys):
    dsn = _fresh(cluster, "inst2")
    with psycopg.connect(dsn, autocommit=True) as su:
        su.execute("DROP ROLE IF EXISTS installer")
        su.execute("CREATE ROLE installer LOGIN CREATEDB")
        su.execute('GRANT CREATE ON DATABASE "inst2" TO installer')
    try:
        assert main(["install", "--dsn", cluster.dsn("inst2", user="installer")]) == 1
        err = capsys.readouterr().err
        assert "[42501]" in err and "not a superuser" in err and "HINT:" in err
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'colcrypt'").fetchone()[0] == 0
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as su:
            su.execute("DROP DATABASE inst2")
            su.execute("DROP ROLE installer")


def test_unreachable_server_is_a_clear_error(tmp_path, capsys):
    assert main(["install", "--dsn", f"host={tmp_path} port=1 user=postgres connect_timeout=2"]) == 1
    assert "colcrypt: error" in capsys.readouterr().err
