"""The colcrypt command line: one short command per workflow verb over the SQL API."""

import argparse
import json
import sys
from pathlib import Path

import psycopg

from colcrypt import __version__
from colcrypt.dsn import resolve
from colcrypt.errors import ColcryptError


def _connect(args) -> psycopg.Connection:
    return psycopg.connect(resolve(args.dsn), autocommit=True)


def cmd_install(args) -> None:
    from colcrypt.install import install

    with _connect(args) as conn:
        print(f"colcrypt: {install(conn)}")


def cmd_keys_create(args) -> None:
    from colcrypt.keys import create_key

    with _connect(args) as conn:
        info = create_key(conn, args.key_id, args.provider, args.kek_file)
    if info["kek_file_created"]:
        print(f"colcrypt: created a new KEK file {info['kek_file']} (mode 0600): back it up; "
              "without it no key wrapped by it can be unwrapped")
    print(f"colcrypt: created key {info['key_id']} version {info['version']} "
          f"(provider {info['provider']}, KEK {info['kek_ref']}); only its wrapped form is stored")


def cmd_keys_list(args) -> None:
    from colcrypt.keys import list_keys

    with _connect(args) as conn:
        rows = list_keys(conn)
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=2))
        return
    cols = ["key_id", "version", "provider", "kek_ref", "state", "encryptions", "key_check_value"]
    _print_table(cols, [[str(r[c]) for c in cols] for r in rows])


def cmd_keys_grant(args) -> None:
    with _connect(args) as conn:
        conn.execute("SELECT colcrypt.grant_key(%s, %s)", (args.key_id, args.role))
    print(f"colcrypt: role {args.role} may now use key {args.key_id} (unwrapped server-side on first use)")


def cmd_keys_revoke(args) -> None:
    with _connect(args) as conn:
        had = conn.execute("SELECT colcrypt.revoke_key(%s, %s)", (args.key_id, args.role)).fetchone()[0]
    print(f"colcrypt: {'revoked' if had else 'there was no'} grant of key {args.key_id} to {args.role}")


def cmd_discover(args) -> None:
    with _connect(args) as conn:
        cur = conn.execute(
            "SELECT schema_name AS schema, table_name AS table, column_name AS column, data_type, classification,"
            " confidence, match_ratio, sample_size, estimated_rows, match_kind, reason"
            " FROM colcrypt.discover(%s, %s) ORDER BY 1, 2, 3", (args.schema or None, args.sample_size))
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=names)
        writer.writeheader()
        writer.writerows({**r, "reason": json.dumps(r["reason"], ensure_ascii=False)} for r in rows)
    else:
        cols = ["schema", "table", "column", "classification", "confidence", "match_ratio", "match_kind"]
        _print_table(cols, [[str(r[c]) for c in cols] for r in rows])
        print(f"\n{len(rows)} sensitive column(s); details with --format json")


def cmd_demo(args) -> None:
    from colcrypt.demo import run

    run()


def _print_table(cols: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def parser() -> argparse.ArgumentParser:
    dsn = argparse.ArgumentParser(add_help=False)
    dsn.add_argument("--dsn", help="libpq connection string or URI (default: DATABASE_URL, PG* variables, "
                                   "else the embedded cluster)")
    kek = argparse.ArgumentParser(add_help=False)
    kek.add_argument("--kek-file", type=Path, help="local provider KEK file (default: $COLCRYPT_KEK_FILE, "
                                                    "else ~/.config/colcrypt/kek)")

    p = argparse.ArgumentParser(prog="colcrypt", description=__doc__)
    p.add_argument("--version", action="version", version=f"colcrypt {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("install", parents=[dsn], help="create or update the extension in a database"
                   ).set_defaults(func=cmd_install)

    keys = sub.add_parser("keys", help="data keys: create, list, grant, revoke").add_subparsers(
        dest="keys_command", required=True)
    create = keys.add_parser("create", parents=[dsn, kek], help="make a data key, wrap it, store the wrapped form")
    create.add_argument("key_id")
    create.add_argument("--provider", default="local", choices=["local"])
    create.set_defaults(func=cmd_keys_create)
    lst = keys.add_parser("list", parents=[dsn], help="show the keyring")
    lst.add_argument("--format", choices=["table", "json"], default="table")
    lst.set_defaults(func=cmd_keys_list)
    for verb, func in (("grant", cmd_keys_grant), ("revoke", cmd_keys_revoke)):
        g = keys.add_parser(verb, parents=[dsn], help=f"{verb} server-side use of a key to a role")
        g.add_argument("key_id")
        g.add_argument("role")
        g.set_defaults(func=func)

    disc = sub.add_parser("discover", parents=[dsn], help="find columns holding sensitive data")
    disc.add_argument("--schema", action="append", help="schema to scan (repeatable; default: all user schemas)")
    disc.add_argument("--sample-size", type=int, default=2000, help="values sampled per column (default 2000)")
    disc.add_argument("--format", choices=["table", "json", "csv"], default="table")
    disc.set_defaults(func=cmd_discover)

    sub.add_parser("demo", help="encrypt, store and decrypt on a throwaway cluster").set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except ColcryptError as e:
        print(f"colcrypt: error [{e.sqlstate}]: {e}", file=sys.stderr)
        return 1
    except psycopg.Error as e:
        diag = e.diag
        print(f"colcrypt: error [{diag.sqlstate or '-'}]: {diag.message_primary or e}", file=sys.stderr)
        if diag.message_hint:
            print(f"HINT: {diag.message_hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
