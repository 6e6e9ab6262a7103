"""`kwtui profile`: saved connection profiles (add, list, remove, test)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from kwtui.cli.common import (
    _Parser,
    _service,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `profile` subcommand and its options."""
    prof = sub.add_parser("profile", help="manage saved connection profiles")
    psub = prof.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    add = psub.add_parser("add", help="save a profile (a password given in --dsn goes to the keyring or is dropped)")
    add.add_argument("name")
    add.add_argument("--dsn", help="libpq URI or keyword string")
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    add.add_argument("--user")
    add.add_argument("--dbname", "--database", dest="dbname")
    add.add_argument("--sslmode", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"])
    add.add_argument("--sslrootcert")
    add.add_argument("--sslcert")
    add.add_argument("--sslkey")
    add.add_argument("--certs-dir", help="KWDB certificate directory (ca.crt, client.<user>.crt/.key)")
    add.add_argument("--application-name")
    add.add_argument("--options", help="libpq options, e.g. '-c search_path=app'")
    add.add_argument("--service", help="a service name from pg_service.conf")
    add.add_argument("--replace", action="store_true", help="overwrite a profile of the same name")
    lst = psub.add_parser("list", help="list saved profiles")
    lst.add_argument("--json", action="store_true")
    rm = psub.add_parser("remove", help="delete a saved profile (and its keyring entry)")
    rm.add_argument("name")
    test = psub.add_parser("test", help="connect and print server kind, version and deployment type")
    test.add_argument("name", nargs="?", help="profile name (or use --dsn)")
    test.add_argument("--dsn")
    test.add_argument("--json", action="store_true")


def cmd_profile(args: argparse.Namespace) -> int:
    from kwtui.profiles import Profile, ProfileStore, add_profile_from_dsn

    store = ProfileStore()
    if args.action == "add":
        if args.dsn:
            fields = [f for f in ("host", "port", "user", "dbname") if getattr(args, f)]
            if fields:
                raise UsageError(f"give either --dsn or --{fields[0]} and friends, not both")
            result = add_profile_from_dsn(store, args.name, args.dsn, replace=args.replace)
            profile = result.profile
            for msg in result.messages:
                print(f"note: {msg}", file=sys.stderr)
        else:
            profile = Profile(
                name=args.name, host=args.host or "", port=args.port, user=args.user or "",
                dbname=args.dbname or "", sslmode=args.sslmode or "", sslrootcert=args.sslrootcert or "",
                sslcert=args.sslcert or "", sslkey=args.sslkey or "", certs_dir=args.certs_dir or "",
                application_name=args.application_name or "kwtui", options=args.options or "",
                service=args.service or "",
            )
            if profile.certs_dir:
                profile.conninfo_params()  # checks the directory now, not at first connect
            store.save(profile, replace=args.replace)
        print(f"saved profile {profile.name!r}: {profile.describe()} ({store.path})")
        return 0
    if args.action == "list":
        profiles = store.load()
        if args.json:
            print(json.dumps([{"name": p.name, **p.to_toml()} for p in profiles.values()], indent=2))
        elif not profiles:
            print(f"no saved profiles ({store.path}); add one with: kwtui profile add NAME --dsn URI")
        else:
            width = max(len(n) for n in profiles)
            for name in sorted(profiles):
                print(f"{name.ljust(width)}  {profiles[name].describe()}")
        return 0
    if args.action == "remove":
        store.remove(args.name)
        print(f"removed profile {args.name!r}")
        return 0
    if args.action == "test":
        if bool(args.name) == bool(args.dsn):
            raise UsageError("give a profile name or --dsn")
        from kwtui.connection import ConnectTarget

        target = ConnectTarget.resolve(dsn=args.dsn, profile=args.name, store=store)

        async def run() -> Any:
            async with _service(target) as svc:
                return svc.info

        info = asyncio.run(run())
        if args.json:
            print(json.dumps(info.as_dict(), indent=2))
        else:
            kind = "KWDB" if info.kind == "kwdb" else "PostgreSQL"
            print(f"server:     {kind}\nversion:    {info.version}\ndeployment: {info.deployment}\n"
                  f"database:   {info.database}\nuser:       {info.user}")
        return 0
    raise UsageError(f"unknown profile action {args.action}")

