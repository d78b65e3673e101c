"""colcrypt install: idempotent, and clear about what stops it."""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from tree_hash import PYTHON, tree_hash

from colcrypt import __version__
from colcrypt.cli import main
from tests.conftest import installed_marker

ROOT = Path(__file__).resolve().parents[2]


def _fresh(cluster, name):
    with psycopg.connect(cluster.dsn(), autocommit=True) as su:
        su.execute(f'DROP DATABASE IF EXISTS "{name}"')
        su.execute(f'CREATE DATABASE "{name}"')
    return cluster.dsn(name)


def test_install_creates_then_does_nothing(cluster, capsys):
    dsn = _fresh(cluster, "inst1")
    assert main(["install", "--dsn", dsn]) == 0
    assert f"created extension colcrypt {__version__} (with pgcrypto and plpython3u)" in capsys.readouterr().out
    assert main(["install", "--dsn", dsn]) == 0
    assert "already installed; nothing to do" in capsys.readouterr().out
    with psycopg.connect(dsn) as conn:
        exts = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
    assert exts["colcrypt"] == __version__ and "pgcrypto" in exts and "plpython3u" in exts


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


def test_embedded_default_without_dsn(monkeypatch, tmp_path, capsys):
    from colcrypt.cluster import embedded

    home = Path(tempfile.mkdtemp(prefix="colcrypt-home-"))
    home.chmod(0o755)  # the server's account must reach the cluster inside
    for var in ("DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGHOSTADDR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLCRYPT_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("COLCRYPT_KEK_FILE", raising=False)
    try:
        assert main(["install"]) == 0
        assert main(["keys", "create", "e1"]) == 0
        assert main(["keys", "grant", "e1", "postgres"]) == 0
        out = capsys.readouterr()
        assert "using the embedded cluster" in out.err and "created key e1" in out.out
        with psycopg.connect(embedded().dsn(), autocommit=True) as conn:  # server-side unwrap works
            ct = conn.execute("SELECT colcrypt.encrypt_column('v', 'e1', 'c')").fetchone()[0]
            assert conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)).fetchone()[0] == "v"
    finally:
        embedded().destroy()
        shutil.rmtree(home, ignore_errors=True)


def test_throwaway_cluster_really_stops():
    from colcrypt.cluster import throwaway

    c = throwaway("colcrypt-stop-")
    c.init()
    c.start()
    assert c.is_running()
    pid = int((c.data / "postmaster.pid").read_text().split()[0])
    c.destroy()
    assert not c.root.exists()
    deadline = time.monotonic() + 10  # pg_ctl returns once the pid file is gone; the exit follows
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), "the postmaster outlived destroy()"


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, StopIteration):
        return "Z"


def test_the_server_imports_this_trees_python_from_a_release_of_its_own(conn):
    """make install puts the server-side package in a directory of its own and then renames one symlink over
    the last, so that a running pg_cron backfill never imports a half-copied package (0.2.0 copied it in
    place); each backend resolves the symlink once and keeps that release."""
    path = Path(conn.execute("SELECT colcrypt._python_path()").fetchone()[0])
    assert path.parent.name == "releases" and path.name == tree_hash(PYTHON)
    current = path.parent.parent / "current"
    assert current.is_symlink() and current.resolve() == path
    assert (path / "colcrypt" / "plpy_helpers.py").read_text() == \
        (Path(__file__).resolve().parents[2] / "python/colcrypt/plpy_helpers.py").read_text()


def test_the_suite_refuses_an_install_of_another_tree():
    """pytest after an edit without make install used to test the last install silently."""
    marker = installed_marker()
    recorded = marker.read_text()
    try:
        marker.write_text("0" * 64 + "\n")  # as if another tree were installed
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "tests/db/test_catalog.py::test_every_public_object_has_a_comment"],
                                capture_output=True, text=True, cwd=ROOT)
    finally:
        marker.write_text(recorded)
    assert result.returncode == 3 and "not this tree's" in result.stdout + result.stderr, result.stdout
