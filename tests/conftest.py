"""A real PostgreSQL 15 cluster for the whole test session, started by the suite itself.

When the suite runs as root (CI does), the server runs as the 'postgres' account. The cluster logs
every statement with its duration and parameters, and pgaudit logs every statement again (with its
parameters), so that the leak tests can read the log.
"""

import itertools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from colcrypt.cluster import DEFAULT_PG_CONFIG, throwaway
from colcrypt.install import install
from colcrypt.keys import create_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from tree_hash import EXTENSION, PYTHON, tree_hash  # noqa: E402

SETTINGS = {
    "shared_preload_libraries": "'colcrypt, pg_cron, pg_stat_statements, pgaudit'",
    "pgaudit.log": "'all'",
    "pgaudit.log_parameter": "on",
    "fsync": "off",
    "log_statement": "'all'",
    "log_min_duration_statement": "0",
    "pg_stat_statements.track": "'all'",
    "pg_stat_statements.track_utility": "on",
}

_db_numbers = itertools.count()


@dataclass
class Database:
    """A fresh database with colcrypt installed, key 'k' created and granted to postgres."""

    cluster: object
    name: str
    kek_file: Path

    @property
    def dsn(self) -> str:
        return self.cluster.dsn(self.name)

    def connect(self, **kwargs) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.dsn, **kwargs)


def installed_marker() -> Path:
    """Where make install records the hash of the tree it installed on this server (tools/tree_hash.py)."""
    pkglib = subprocess.run([DEFAULT_PG_CONFIG, "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    return Path(pkglib) / "colcrypt" / "installed.sha256"


def installed_tree() -> str | None:
    marker = installed_marker()
    return marker.read_text().strip() if marker.exists() else None


@pytest.fixture(scope="session")
def cluster():
    tree = tree_hash(PYTHON + EXTENSION)
    if installed_tree() != tree:
        pytest.exit("the colcrypt installed on this server is not this tree's (run make install; make test does): "
                    "the suite would test an earlier install", returncode=3)
    c = throwaway("colcrypt-test-")
    c.kek_file = c.init_with_local_kek(SETTINGS)
    c.start()
    with psycopg.connect(c.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    yield c
    c.destroy()


def new_database(cluster, with_key: bool = True) -> Database:
    name = f"t{next(_db_numbers)}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(cluster, name, cluster.kek_file)
    with db.connect() as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        install(conn)
        if with_key:
            create_key(conn, "k", kek_file=cluster.kek_file)
            conn.execute("SELECT colcrypt.grant_key('k', 'postgres')")
    return db


@pytest.fixture
def db(cluster) -> Database:
    return new_database(cluster)


@pytest.fixture
def bare_db(cluster) -> Database:
    """Like db, without any key."""
    return new_database(cluster, with_key=False)


@pytest.fixture
def conn(db):
    with db.connect() as c:
        yield c


@pytest.fixture
def app_role(db):
    """A login role with no colcrypt grants, dropped after the test."""
    with db.connect() as c:
        c.execute("DROP ROLE IF EXISTS app_user")
        c.execute("CREATE ROLE app_user LOGIN")
    yield "app_user"
    with db.connect() as c:
        c.execute("DROP OWNED BY app_user")
        c.execute("DROP ROLE app_user")


@dataclass
class Roles:
    """The roles users have, none of them a superuser: an application role that reads and writes through
    the tables' names, the tables' owner (it owns the schema app, where the tests put its tables), and a
    key administrator (a member of colcrypt_key_admin). Key k is granted to the owner, whose triggers
    encrypt, and to the application. Role names are unique to the test's database."""

    db: Database
    app: str
    owner: str
    keyadmin: str

    def connect(self, role: str, **kwargs) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.db.cluster.dsn(self.db.name, user=role), **kwargs)


@pytest.fixture
def roles(db) -> Roles:
    r = Roles(db, f"{db.name}_app", f"{db.name}_owner", f"{db.name}_keyadmin")
    with db.connect() as c:
        for name in (r.app, r.owner, r.keyadmin):
            c.execute(f'CREATE ROLE "{name}" LOGIN')
        c.execute(f'GRANT colcrypt_key_admin TO "{r.keyadmin}"')
        c.execute(f'CREATE SCHEMA app AUTHORIZATION "{r.owner}"')
        c.execute(f'GRANT USAGE ON SCHEMA app TO "{r.app}"')
        c.execute("SELECT colcrypt.grant_key('k', %s), colcrypt.grant_key('k', %s)", (r.owner, r.app))
    yield r
    with db.connect() as c:
        c.execute("SET colcrypt.allow_ddl = on")  # migrations the test left live
        for name in (r.app, r.owner, r.keyadmin):
            c.execute(f'DROP OWNED BY "{name}" CASCADE')
            c.execute(f'DROP ROLE "{name}"')
