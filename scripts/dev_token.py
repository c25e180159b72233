"""Prints a bearer token for the local system (`make run`), signed by its development key (var/auth/).

    .venv/bin/python scripts/dev_token.py --role admin
    curl -H "Authorization: Bearer $(.venv/bin/python scripts/dev_token.py --role storefront)" localhost:8001/...

Roles: storefront (orders, availability), operations (dashboard, release/hold/resume, retries, dead letters),
admin (catalog, suppliers, policies). Repeat --role for several; none named gives all three.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dev_identity import ALL_ROLES, DevIdentity

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", action="append", choices=ALL_ROLES, default=[], help="a role to grant")
    parser.add_argument("--subject", default="dev-user", help="who the token names (recorded in audit logs)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var", help="where `make run` keeps its files")
    args = parser.parse_args()
    identity = DevIdentity.load_or_create(args.workdir / "auth")
    print(identity.token(*args.role, subject=args.subject, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
