"""Department access configuration: who may submit which categories, with which token.

Access rights are assigned centrally (seed 002 四): a TOML file lists each department with
its code, name, the SHA-256 of its bearer token (never the token itself), the categories it
may submit and an optional rate limit. See producers/departments.example.toml.

Create a token and its hash with `python -m producers.departments new-token`; hash an
existing token with `python -m producers.departments hash-token TOKEN`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.errors import CategoryNotAllowed, DepartmentConfigError, UnknownDepartment
from producers.ratelimit import RateLimit
from schemas.categories import CATEGORIES, Category
from schemas.records import Department

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def hash_token(token: str) -> str:
    """The hex SHA-256 of a bearer token, as the configuration stores it.

    Tokens are 256-bit random strings (`new_token`), so a plain hash is enough: there is
    no dictionary to guess from, and a leaked configuration file reveals no token."""
    if not token:
        raise ValueError("an empty token cannot be hashed")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class DepartmentAccess:
    """One department's identity and rights."""

    code: str
    name: str
    token_sha256: str
    categories: frozenset[Category]
    rate_limit: RateLimit | None = None
    # Whether the department (a registration authority) has a network connection to the
    # platform: its code assignments are due within 1 working day if so, 5 if not
    # (seed 000 §二(二)). Carried on each of its intake events (`networked`).
    networked: bool = True

    @property
    def department(self) -> Department:
        return Department(code=self.code, name=self.name)

    def may_submit(self, category: str) -> bool:
        """Whether this department is allowed to submit records of `category`."""
        return category in self.categories

    def refusal(self, category: str) -> str:
        """Why a `category` record of this department is refused (every entrance says it so)."""
        allowed = ", ".join(sorted(self.categories))
        return (
            f"department {self.code} ({self.name}) may not submit {category!r} records; "
            f"it may submit: {allowed}"
        )

    def check(self, category: str) -> None:
        """CategoryNotAllowed unless this department may submit `category`."""
        if not self.may_submit(category):
            raise CategoryNotAllowed(self.refusal(category))


class _Unknown(UnknownDepartment, KeyError):
    """UnknownDepartment that callers catching KeyError (as before) still catch."""

    def __str__(self) -> str:
        return str(self.args[0])  # not KeyError's repr of the message


class DepartmentDirectory:
    """All departments of one configuration file, by code and by token."""

    def __init__(self, departments: Sequence[DepartmentAccess]) -> None:
        self._departments = tuple(departments)
        self._by_code = {d.code: d for d in self._departments}

    def __iter__(self) -> Iterator[DepartmentAccess]:
        return iter(self._departments)

    def __len__(self) -> int:
        return len(self._departments)

    def get(self, code: str) -> DepartmentAccess:
        """The department with this code, or UnknownDepartment (a KeyError too) listing the
        known ones."""
        try:
            return self._by_code[code]
        except KeyError:
            raise _Unknown(
                f"unknown department {code!r}; configured: {', '.join(sorted(self._by_code))}"
            ) from None

    def authenticate(self, token: str | None) -> DepartmentAccess | None:
        """The department holding this bearer token, or None.

        Every entry is compared in constant time and none is skipped, so the response time
        says nothing about how close a guess was or which department it matched."""
        if not token:
            return None
        digest = hash_token(token)
        found = None
        for department in self._departments:
            if hmac.compare_digest(department.token_sha256, digest):
                found = department
        return found

    def rate_limits(self) -> dict[str, RateLimit]:
        """The configured limits by department code, for `TokenBucketLimiter`."""
        return {d.code: d.rate_limit for d in self._departments if d.rate_limit is not None}


def load_departments(path: str | Path) -> DepartmentDirectory:
    """Read and check a department access file; errors name the entry and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DepartmentConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DepartmentConfigError(str(path), f"not valid TOML: {exc}") from exc
    entries = data.get("departments")
    if not isinstance(entries, list) or not entries:
        raise DepartmentConfigError(str(path), "expected one or more [[departments]] tables")
    departments = [_department(str(path), i, entry) for i, entry in enumerate(entries)]
    _check_unique(str(path), departments)
    return DepartmentDirectory(departments)


def _department(path: str, index: int, entry: Any) -> DepartmentAccess:
    where = f"departments[{index}]"
    if not isinstance(entry, dict):
        raise DepartmentConfigError(path, f"{where}: expected a table")
    code = entry.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise DepartmentConfigError(
            path, f"{where}.code: expected lower-case letters, digits, '-', '_' or '.', "
            f"such as 'scjg-640000', got {code!r}"
        )  # fmt: skip
    where = f"{where} ({code})"
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DepartmentConfigError(path, f"{where}.name: expected the department's name")
    token_hash = entry.get("token_sha256")
    if not isinstance(token_hash, str) or not _SHA256_HEX.fullmatch(token_hash):
        raise DepartmentConfigError(
            path, f"{where}.token_sha256: expected 64 lower-case hex characters "
            "(python -m producers.departments hash-token TOKEN), never the token itself"
        )  # fmt: skip
    categories = entry.get("categories")
    if not isinstance(categories, list) or not categories:
        raise DepartmentConfigError(path, f"{where}.categories: expected a list of categories")
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise DepartmentConfigError(
            path, f"{where}.categories: unknown {unknown!r}; expected some of "
            f"{', '.join(CATEGORIES)}"
        )  # fmt: skip
    return DepartmentAccess(
        code=code,
        name=name.strip(),
        token_sha256=token_hash,
        categories=frozenset(categories),
        rate_limit=_rate_limit(path, where, entry.get("rate_limit")),
        networked=_networked(path, where, entry.get("networked", True)),
    )


def _networked(path: str, where: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise DepartmentConfigError(
            path, f"{where}.networked: expected true or false (whether the registration "
            f"authority has a network: 1 or 5 working days to return code assignments), "
            f"got {raw!r}"
        )  # fmt: skip
    return raw


def _rate_limit(path: str, where: str, raw: Any) -> RateLimit | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DepartmentConfigError(
            path, f"{where}.rate_limit: expected a table with per_second and burst"
        )
    per_second, burst = raw.get("per_second"), raw.get("burst")
    if isinstance(per_second, bool) or not isinstance(per_second, int | float):
        raise DepartmentConfigError(
            path, f"{where}.rate_limit.per_second: expected a number, got {per_second!r}"
        )
    if burst is None:
        burst = max(1, int(per_second))
    if isinstance(burst, bool) or not isinstance(burst, int):
        raise DepartmentConfigError(
            path, f"{where}.rate_limit.burst: expected a whole number, got {burst!r}"
        )
    try:
        return RateLimit(float(per_second), burst)
    except ValueError as exc:
        raise DepartmentConfigError(path, f"{where}.rate_limit: {exc}") from exc


def _check_unique(path: str, departments: list[DepartmentAccess]) -> None:
    codes: set[str] = set()
    hashes: dict[str, str] = {}
    for department in departments:
        if department.code in codes:
            raise DepartmentConfigError(path, f"department code {department.code!r} is repeated")
        codes.add(department.code)
        other = hashes.get(department.token_sha256)
        if other is not None:
            # One token for two departments would let either submit as the other.
            raise DepartmentConfigError(
                path, f"departments {other!r} and {department.code!r} share one token"
            )
        hashes[department.token_sha256] = department.code


def main(argv: Sequence[str] | None = None) -> int:
    """`new-token`: print a fresh token and its hash; `hash-token TOKEN`: print the hash."""
    parser = argparse.ArgumentParser(prog="python -m producers.departments")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new-token", help="print a new random token and its token_sha256")
    hash_cmd = commands.add_parser("hash-token", help="print the token_sha256 of a token")
    hash_cmd.add_argument("token")
    args = parser.parse_args(argv)
    if args.command == "new-token":
        token = new_token()
        print(f"token (give to the department, store nowhere else): {token}")
        print(f'token_sha256 = "{hash_token(token)}"')
    else:
        print(f'token_sha256 = "{hash_token(args.token)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
