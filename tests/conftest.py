"""A real PostgreSQL 15 cluster for the whole test session, started by the suite itself.

When the suite runs as root (CI does), the server runs as the 'postgres' account. The cluster logs
every statement with its duration and parameters, and pgaudit logs every statement again (with its
parameters), so that the leak tests can read the log.
"""

import itertools
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from colcrypt.cluster import throwaway
from colcrypt.install import install
from colcrypt.keys import create_key

SETTINGS = {
    "shared_preload_libraries": "'pg_cron, pg_stat_statements, pgaudit'",
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


@pytest.fixture(scope="session")
def cluster():
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
