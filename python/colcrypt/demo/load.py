"""The live application of `make demo`: the pharmacy's back end (colcrypt.demo.sample) in N worker
threads, each with its own connection, writing and reading through the tables' names only, in short
paced transactions, and keeping a ledger of everything it committed.

Connection: each worker connects with the dsn it is given and runs `SET ROLE demo_app`, so the dsn's
user must be a member of demo_app (a superuser is); everything then runs with the application's
privileges (and its key grant, once the names decrypt).

Ownership: worker w of n owns the customers that existed at start() with customer_id % n == w, with
all their payment methods, prescriptions and orders, and every row it inserts. A customer's rows go
with it (its deletion cascades to them), so no two workers ever write the same row.

The ledger: at start() each worker records a digest (md5 of the row's text) of every row it owns;
after each commit, the values RETURNING gave for every row it wrote, and which rows it deleted
(cascaded ones too: it reads a customer's rows before deleting it). Reads compare what the name
returns with the ledger. lost() compares the ledger with every row of the targets. Not checked:
rx.order_lines (not a target; only its cascade from deleted orders is), updated_at, created_at.
"""

from __future__ import annotations

import random
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from colcrypt.demo import fake, sample


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]     # what the ledger tracks

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(*self.name.split("."))

    @property
    def where(self) -> sql.Composable:
        return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in self.key)

    def names(self, cols=None) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.key + self.columns if cols is None else cols))

    @property
    def digest(self) -> sql.Composable:
        return sql.SQL("decode(md5(ROW({})::text), 'hex')").format(self.names(self.columns))


CUSTOMERS = Table("shop.customers", ("customer_id",),
                  ("full_name", "email", "phone", "date_of_birth", "ssn", "tier", "marketing_opt_in"))
METHODS = Table("shop.payment_methods", ("customer_id", "method_no"),
                ("kind", "card_number", "iban", "holder_name", "valid_thru", "is_default"))
PRESCRIPTIONS = Table("rx.prescriptions", ("prescription_id",),
                      ("customer_id", "ndc", "prescriber", "refills_left", "driver_license", "pharmacist_notes"))
ORDERS = Table("rx.orders", ("order_id", "ordered_on"),
               ("customer_id", "status", "total", "contact_phone", "delivery"))
TABLES = (CUSTOMERS, METHODS, PRESCRIPTIONS, ORDERS)
CHILDREN = (METHODS, PRESCRIPTIONS, ORDERS)     # rows of a customer, deleted with it by cascade
LINES = sql.Identifier("rx", "order_lines")     # not a target: written, and checked only for its cascade
KEEP_ERRORS = 5


@dataclass
class Stats:
    committed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)        # the first few: "SQLSTATE: message (operation)"
    operations: dict[str, int] = field(default_factory=dict)   # committed transactions per operation
    wrong_reads: int = 0
    wrong: list[str] = field(default_factory=list)         # the first few wrong reads
    max_ms: float = 0.0
    p99_ms: float = 0.0
    tps: float = 0.0
    seconds: float = 0.0


class Load:
    """Start, pause, resume and stop the application; its statistics and the check of its ledger."""

    def __init__(self, dsn: str, workers: int = 2, seed: int = 1, tps: float = 200.0):
        if workers < 1 or tps <= 0:
            raise ValueError("workers must be >= 1 and tps > 0")
        self.dsn, self.seed, self.interval = dsn, seed, workers / tps
        self.workers = [_Worker(self, w, workers) for w in range(workers)]
        self._cond = threading.Condition()
        self._paused = self._stopped = False
        self._in_transaction = 0
        self._stats = Stats()
        self._latencies = array("d")
        self._ops: Counter = Counter()
        self._started = self._ended = self._paused_at = None
        self._paused_s = 0.0        # not counted in transactions/s
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Connect every worker, record the rows it owns, then let them run."""
        try:
            for w in self.workers:
                w.connect()
            loaders = [threading.Thread(target=w.record_owned) for w in self.workers]
            for t in loaders:
                t.start()
            for t in loaders:
                t.join()
            for w in self.workers:
                if w.startup_error:
                    raise w.startup_error
        except BaseException:
            self._close()
            raise
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=w.run, name=f"demo-load-{w.index}", daemon=True)
                         for w in self.workers]
        for t in self._threads:
            t.start()

    def pause(self) -> None:
        """Returns once every worker is between transactions; they stay there until resume()."""
        with self._cond:
            if not self._paused:
                self._paused, self._paused_at = True, time.monotonic()
            self._cond.wait_for(lambda: self._in_transaction == 0)

    def resume(self) -> None:
        with self._cond:
            if self._paused:
                self._paused_s += time.monotonic() - self._paused_at
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> Stats:
        self.resume()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()
        if self._ended is None and self._started is not None:
            self._ended = time.monotonic()
        self._close()
        return self.snapshot()

    def snapshot(self) -> Stats:
        with self._cond:
            s = Stats(**{**self._stats.__dict__, "errors": list(self._stats.errors),
                         "wrong": list(self._stats.wrong), "operations": dict(self._ops)})
            latencies = sorted(self._latencies)
            now = self._ended or time.monotonic()
            paused = self._paused_s + (now - self._paused_at if self._paused else 0.0)
        if latencies:
            s.max_ms, s.p99_ms = latencies[-1], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if self._started is not None:
            s.seconds = now - self._started - paused
            s.tps = s.committed / s.seconds if s.seconds > 0 else 0.0
        return s

    def lost(self, conn) -> list[str]:
        """Every row of the targets that differs from the ledger (missing, extra, different, or
        deleted but present), read through the names with conn (whose role needs the key once the
        names decrypt). Call it after stop() or while paused; an empty list: nothing lost."""
        problems: list[str] = []
        for table in TABLES:
            written: dict = {}
            original: dict = {}
            for w in self.workers:
                written.update(w.rows[table.name])
                original.update(w.original[table.name])
            original = {k: d for k, d in original.items() if k not in written}
            query = sql.SQL("SELECT {}, {} FROM {}").format(table.names(), table.digest, table.ident)
            n = len(table.key)
            for row in conn.cursor(row_factory=tuple_row).stream(query):
                key, values, digest = tuple(row[:n]), tuple(row[n:-1]), row[-1]
                if key in written:
                    want = written.pop(key)
                    if want is None:
                        problems.append(f"{table.name} {key}: deleted, but present: {_show(table, values)}")
                    elif values != want:
                        diff = {c: (w, g) for c, w, g in zip(table.columns, want, values, strict=True) if w != g}
                        problems.append(f"{table.name} {key}: (expected, found) {diff}")
                elif key in original:
                    if bytes(original.pop(key)) != bytes(digest):
                        problems.append(f"{table.name} {key}: changed, but never written by the application: "
                                        f"{_show(table, values)}")
                else:
                    problems.append(f"{table.name} {key}: a row the application never wrote: {_show(table, values)}")
            problems += [f"{table.name} {key}: missing, last written as {_show(table, want)}"
                         for key, want in written.items() if want is not None]
            problems += [f"{table.name} {key}: missing, never written by the application" for key in original]
        return problems

    # used by the workers
    def _begin(self) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: not self._paused or self._stopped)
            if self._stopped:
                return False
            self._in_transaction += 1
            return True

    def _end(self, op: str | None, ms: float, error: str | None, wrong: list[str]) -> None:
        with self._cond:
            self._in_transaction -= 1
            s = self._stats
            if error is None:
                s.committed += 1
                self._ops[op] += 1
                self._latencies.append(ms)
            else:
                s.failed += 1
                if len(s.errors) < KEEP_ERRORS:
                    s.errors.append(error)
            s.wrong_reads += len(wrong)
            s.wrong += wrong[:KEEP_ERRORS - len(s.wrong)]
            self._cond.notify_all()

    def _close(self) -> None:
        for w in self.workers:
            w.close()


def _show(table: Table, values) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(table.columns, values, strict=True))


class _KeyPool:
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


class _Worker:
    def __init__(self, load: Load, index: int, workers: int):
        self.load, self.index, self.workers = load, index, workers
        self.rng = random.Random(f"colcrypt-demo:{load.seed}:{index}:{workers}")  # noqa: S311 - a simulation
        self.conn: psycopg.Connection | None = None
        self.startup_error: Exception | None = None
        self.original: dict[str, dict] = {t.name: {} for t in TABLES}    # key -> digest at start()
        self.rows: dict[str, dict] = {t.name: {} for t in TABLES}        # key -> values last written, None: deleted
        self.live: dict[str, _KeyPool] = {t.name: _KeyPool() for t in TABLES}
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
        while self.load._begin():
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
            self.load._end(op, (time.monotonic() - started) * 1000, error, wrong)
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
        return _Worker._read

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


STEPS = [(4, _Worker._new_customer), (4, _Worker._new_method), (4, _Worker._new_prescription),
         (9, _Worker._new_order), (30, _Worker._change), (5, _Worker._delete)]   # the rest: reads


def _param(value):
    return Jsonb(value) if isinstance(value, dict) else value


def _normalized(email):
    return email.strip(" ").lower() if isinstance(email, str) else email   # as the table's trigger does
