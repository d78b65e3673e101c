"""One worker of the demo application (colcrypt.demo.load): its connection as the application's role, its
transactions through the tables' names, and its part of the ledger."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from colcrypt.demo import fake, sample
from colcrypt.demo.tables import CHILDREN, CUSTOMERS, LINES, METHODS, ORDERS, PRESCRIPTIONS, TABLES, Table

if TYPE_CHECKING:
    from colcrypt.demo.load import Load


class KeyPool:
    """Keys to pick from at random, with O(1) add and remove."""

    def __init__(self):
        self.keys: list = []
        self.at: dict = {}

    def add(self, key) -> None:
        if key not in self.at:
            self.at[key] = len(self.keys)
            self.keys.append(key)

    def remove(self, key) -> None:
        i = self.at.pop(key, None)
        if i is not None:
            last = self.keys.pop()
            if i < len(self.keys):
                self.keys[i], self.at[last] = last, i

    def pick(self, rng: random.Random):
        return rng.choice(self.keys) if self.keys else None


class Worker:
    def __init__(self, load: Load, index: int, workers: int):
        self.load, self.index, self.workers = load, index, workers
        self.rng = random.Random(f"colcrypt-demo:{load.seed}:{index}:{workers}")  # noqa: S311 - a simulation
        self.conn: psycopg.Connection | None = None
        self.startup_error: Exception | None = None
        self.original: dict[str, dict] = {t.name: {} for t in TABLES}    # key -> digest at start()
        self.rows: dict[str, dict] = {t.name: {} for t in TABLES}        # key -> values last written, None: deleted
        self.live: dict[str, KeyPool] = {t.name: KeyPool() for t in TABLES}
        self.gone: dict[str, list] = {t.name: [] for t in TABLES}
        self.pending: list[tuple[Table, tuple, tuple | None]] = []
        self.wrong: list[str] = []
        self.ndcs: list[str] = []
        self.partition = index                                            # next partition of rx.orders

    def connect(self) -> None:
        dsn = make_conninfo(self.load.dsn, application_name=f"colcrypt-demo-load-{self.index}")
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(sample.APP_ROLE)))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def record_owned(self) -> None:
        try:
            self.ndcs = [r[0] for r in self.conn.execute(sql.SQL("SELECT ndc FROM {} ORDER BY ndc").format(
                sql.Identifier("rx", "drugs")))]
            for table in TABLES:
                query = sql.SQL("SELECT {}, {} FROM {} WHERE customer_id %% %s = %s").format(
                    table.names(table.key), table.digest, table.ident)
                for row in self.conn.cursor().stream(query, (self.workers, self.index)):
                    key = tuple(row[:-1])
                    self.original[table.name][key] = row[-1]
                    self.live[table.name].add(key)
        except Exception as e:  # noqa: BLE001 - start() raises it
            self.startup_error = e

    def run(self) -> None:
        due = time.monotonic()
        while self.load.worker_begins():
            started, op, error, step = time.monotonic(), None, None, self._choose()
            due = max(due, started)   # after a pause or a slow transaction: no burst to catch up
            try:
                self._reconnect_if_broken()
                with self.conn.transaction():
                    op = step(self)
            except psycopg.Error as e:
                error = f"{e.sqlstate}: {e.diag.message_primary or e} ({step.__name__.strip('_')})"
            except Exception as e:  # noqa: BLE001 - a failed transaction is counted, the worker goes on
                error = f"{type(e).__name__}: {e} ({step.__name__.strip('_')})"
            if error is None:
                self._apply()
            self.pending.clear()
            wrong, self.wrong = self.wrong, []
            self.load.worker_ends(op, (time.monotonic() - started) * 1000, error, wrong)
            due += self.load.interval
            time.sleep(max(0.0, due - time.monotonic()))

    def _reconnect_if_broken(self) -> None:
        if self.conn.broken or self.conn.closed:
            self.conn.close()
            self.connect()

    def _apply(self) -> None:
        for table, key, values in self.pending:
            self.rows[table.name][key] = values
            if values is None:
                self.live[table.name].remove(key)
                gone = self.gone[table.name]
                gone.append(key)
                del gone[:-50]
            else:
                self.live[table.name].add(key)

    # the transactions

    def _choose(self):
        r = self.rng.random() * 100
        for weight, step in STEPS:
            if r < weight:
                return step
            r -= weight
        return Worker._read

    def _exec(self, query, params=()) -> list[tuple]:
        cur = self.conn.execute(query, params)
        return cur.fetchall() if cur.description else []

    def _wrong(self, what: str, got, want) -> None:
        self.wrong.append(f"worker {self.index}: {what}: got {got!r}, expected {want!r}")

    def _write(self, table: Table, query, params, expect: dict, what: str) -> tuple[tuple, tuple]:
        """Run an INSERT or UPDATE ... RETURNING key and columns; check the columns in expect."""
        rows = self._exec(query, params)
        if len(rows) != 1:
            self._wrong(f"{what} {table.name}", f"{len(rows)} rows", "1 row")
            return (), ()
        n = len(table.key)
        key, values = tuple(rows[0][:n]), tuple(rows[0][n:])
        got = dict(zip(table.columns, values, strict=True))
        for col, want in expect.items():
            if not (want(got[col]) if callable(want) else got[col] == want):
                self._wrong(f"{what} {table.name} {key} {col}", got[col], want)
        self.pending.append((table, key, values))
        return key, values

    def _insert(self, table: Table, values: dict, what: str = "insert") -> tuple:
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            table.ident, table.names(tuple(values)), sql.SQL(", ").join([sql.Placeholder()] * len(values)),
            table.names())
        expect = {c: v for c, v in values.items() if c in table.columns}
        if "email" in expect:
            expect["email"] = _normalized(expect["email"])
        return self._write(table, query, [_param(v) for v in values.values()], expect, what)[0]

    def _update(self, table: Table, key: tuple, values: dict, what: str = "update") -> None:
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values)
        query = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(table.ident, sets, table.where,
                                                                        table.names())
        expect = {c: _normalized(v) if c == "email" else v for c, v in values.items()}
        self._write(table, query, [*map(_param, values.values()), *key], expect, what)

    def _owned(self, table: Table):
        return self.live[table.name].pick(self.rng)

    def _new_customer(self) -> str:
        g = self.rng
        key = self._insert(CUSTOMERS, {"full_name": fake.name(g), "email": fake.email(g), "phone": fake.phone(g),
                                       "date_of_birth": fake.birthday(g), "ssn": fake.ssn(g),
                                       "tier": g.choice(["basic", "silver", "gold"]),
                                       "marketing_opt_in": g.random() < 0.3})
        if key and g.random() < 0.5:
            self._insert(METHODS, {"customer_id": key[0], "method_no": 1, **fake.method(g), "is_default": True})
        return "insert customers"

    def _new_method(self) -> str:
        customer = self._owned(CUSTOMERS)
        if customer is None:
            return self._new_customer()
        number = self._exec(sql.SQL("SELECT coalesce(max(method_no), 0) + 1 FROM {} WHERE customer_id = %s").format(
            METHODS.ident), customer)[0][0]
        self._insert(METHODS, {"customer_id": customer[0], "method_no": number, **fake.method(self.rng),
                               "is_default": False})
        return "insert payment_methods"

    def _new_prescription(self) -> str:
        customer, g = self._owned(CUSTOMERS), self.rng
        if customer is None:
            return self._new_customer()
        self._insert(PRESCRIPTIONS, {"customer_id": customer[0], "ndc": g.choice(self.ndcs),
                                     "prescriber": "Dr. " + g.choice(sample.LAST), "refills_left": g.randrange(4),
                                     "driver_license": fake.licence(g), "pharmacist_notes": fake.notes(g)})
        return "insert prescriptions"

    def _new_order(self) -> str:
        customer, g = self._owned(CUSTOMERS), self.rng
        if customer is None:
            return self._new_customer()
        partition, low, high = sample.ORDER_PARTITIONS[self.partition % len(sample.ORDER_PARTITIONS)]
        self.partition += 1
        values = {"customer_id": customer[0], "status": "placed", "total": fake.money(g),
                  "contact_phone": fake.phone(g), "delivery": fake.delivery(g)}
        if not (partition == sample.ORDER_PARTITIONS[-1][0] and g.random() < 0.5):   # else: the default, today
            values["ordered_on"] = low + timedelta(days=g.randrange((high - low).days + 1))
        key = self._insert(ORDERS, values)
        for line in range(1, g.randint(1, 3) + 1):
            self._exec(sql.SQL("INSERT INTO {} (order_id, ordered_on, line_no, ndc, quantity)"
                               " VALUES (%s, %s, %s, %s, %s)").format(LINES),
                       (*key, line, g.choice(self.ndcs), g.randint(1, 3)))
        return f"insert {partition.split('.')[1]}"

    def _change(self) -> str:
        g = self.rng
        table = g.choice(TABLES)
        key = self._owned(table)
        if key is None:
            return self._new_customer()
        to_null = g.random() < 0.2
        values = (fake.TO_NULL if to_null else fake.CHANGES)[table.name](g)
        if table is ORDERS and not to_null and g.random() < 0.3:   # an edit of the jsonb inside the server
            note = g.choice(sample.INSTRUCTIONS) + f" #{g.randrange(1000)}"
            query = sql.SQL("UPDATE {} SET delivery = jsonb_set(coalesce(delivery, '{{}}'), '{{instructions}}',"
                            " to_jsonb(%s::text)) WHERE {} RETURNING {}").format(ORDERS.ident, ORDERS.where,
                                                                                ORDERS.names())
            self._write(ORDERS, query, (note, *key), {"delivery": lambda d: d["instructions"] == note}, "jsonb_set")
            return "update jsonb"
        self._update(table, key, values)
        return f"{'update to NULL' if to_null else 'update'} {table.name.split('.')[1]}"

    def _delete(self) -> str:
        g = self.rng
        table = CUSTOMERS if g.random() < 0.15 else g.choice(CHILDREN)
        key = self._owned(table)
        if key is None:
            return self._new_customer()
        if table is CUSTOMERS:   # its rows go by cascade: note them first, check they are gone after
            children = [(t, tuple(r)) for t in CHILDREN for r in self._exec(
                sql.SQL("SELECT {} FROM {} WHERE customer_id = %s").format(t.names(t.key), t.ident), key)]
        deleted = self._exec(sql.SQL("DELETE FROM {} WHERE {} RETURNING {}").format(
            table.ident, table.where, table.names(table.key)), key)
        if [tuple(r) for r in deleted] != [key]:
            self._wrong(f"delete {table.name} {key}", deleted, [key])
        self.pending.append((table, key, None))
        if table is CUSTOMERS:
            self.pending += [(t, k, None) for t, k in children]
            for t in CHILDREN:
                self._expect_none(sql.SQL("SELECT {} FROM {} WHERE customer_id = %s").format(
                    t.names(t.key), t.ident), key, f"cascade to {t.name}")
            return "delete customers (cascade)"
        if table is ORDERS:
            self._expect_none(sql.SQL("SELECT line_no FROM {} WHERE order_id = %s AND ordered_on = %s").format(LINES),
                              key, "cascade to rx.order_lines")
        return f"delete {table.name.split('.')[1]}"

    def _expect_none(self, query, key, what: str) -> None:
        left = self._exec(query, key)
        if left:
            self._wrong(f"{what} of {key}", left, [])

    def _read(self) -> str:
        g = self.rng
        table = g.choice(TABLES)
        gone = self.gone[table.name]
        key = g.choice(gone) if gone and g.random() < 0.1 else self._owned(table)
        if key is None:
            return "read"
        if key in self.rows[table.name]:
            want = self.rows[table.name][key]
            got = [tuple(r) for r in self._exec(sql.SQL("SELECT {} FROM {} WHERE {}").format(
                table.names(table.columns), table.ident, table.where), key)]
            if got != ([] if want is None else [want]):
                self._wrong(f"read {table.name} {key}", got, want)
        else:
            got = [bytes(r[0]) for r in self._exec(sql.SQL("SELECT {} FROM {} WHERE {}").format(
                table.digest, table.ident, table.where), key)]
            if got != [bytes(self.original[table.name][key])]:
                self._wrong(f"read {table.name} {key} (never written: digest)", got, "its digest at start")
        return "read"


STEPS = [(4, Worker._new_customer), (4, Worker._new_method), (4, Worker._new_prescription),
         (9, Worker._new_order), (30, Worker._change), (5, Worker._delete)]   # the rest: reads


def _param(value):
    return Jsonb(value) if isinstance(value, dict) else value


def _normalized(email):
    return email.strip(" ").lower() if isinstance(email, str) else email   # as the table's trigger does
