"""Saved connection profiles.

Profiles live in one TOML file under the platformdirs config directory, written with
mode 0600. A profile never holds a password: passwords come from the system keyring
(when a usable backend exists), ~/.pgpass, PGPASSWORD / PG* variables, or a prompt.
libpq URIs, keyword strings, PG* environment variables and service files all work
because the final connection string is handed to libpq, which reads them itself.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import tomli_w
from psycopg import conninfo as pg_conninfo

from kwtui import paths
from kwtui.errors import ProfileError, UsageError

KEYRING_SERVICE = "kwtui"

#: libpq parameters that must never be stored.
SECRET_KEYS = frozenset({"password", "sslpassword"})

#: Profile fields that map one-to-one onto libpq parameters.
_LIBPQ_FIELDS = (
    "host",
    "port",
    "user",
    "dbname",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "service",
)


@dataclass
class Profile:
    """A named way to reach a server. Empty fields are left to libpq (PG* variables, service file)."""

    name: str
    host: str = ""
    port: int | None = None
    user: str = ""
    dbname: str = ""
    sslmode: str = ""
    sslrootcert: str = ""
    sslcert: str = ""
    sslkey: str = ""
    certs_dir: str = ""
    application_name: str = "kwtui"
    options: str = ""
    service: str = ""
    #: other libpq parameters (connect_timeout, target_session_attrs, ...); never secrets.
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name(self.name)
        for key in list(self.extra):
            if key in SECRET_KEYS:
                del self.extra[key]

    # -- conversion -----------------------------------------------------------------

    def to_toml(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v not in ("", None, {}) and k != "name"}
        return data

    @classmethod
    def from_toml(cls, name: str, data: dict[str, Any]) -> Profile:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - SECRET_KEYS  # a hand-written password is dropped below
        if unknown:
            raise ProfileError(f"profile {name!r} has unknown keys: {', '.join(sorted(unknown))}")
        data = {k: v for k, v in data.items() if k not in SECRET_KEYS}
        return cls(name=name, **data)

    def conninfo_params(self) -> dict[str, Any]:
        """libpq keyword parameters for this profile (no password)."""
        params: dict[str, Any] = {}
        for key in _LIBPQ_FIELDS:
            value = getattr(self, key)
            if value not in ("", None):
                params[key] = str(value)
        params.update({k: v for k, v in self.extra.items() if k not in SECRET_KEYS})
        if self.certs_dir:
            params.update(kwdb_cert_params(self.certs_dir, self.user or os.environ.get("PGUSER", "root")))
            params.setdefault("sslmode", "verify-full")
            if self.sslmode:
                params["sslmode"] = self.sslmode
        return params

    def describe(self) -> str:
        """user@host:port/db, without secrets, for lists and titles."""
        host = self.host or (f"service={self.service}" if self.service else "(PGHOST/default)")
        port = f":{self.port}" if self.port else ""
        user = f"{self.user}@" if self.user else ""
        db = f"/{self.dbname}" if self.dbname else ""
        return f"{user}{host}{port}{db}"


def validate_name(name: str) -> None:
    if not name or not name.strip():
        raise UsageError("a profile needs a name")
    if any(c in name for c in "\n\r\t\"'[]"):
        raise UsageError(f"profile name {name!r} has a character that is not allowed")


def kwdb_cert_params(certs_dir: str, user: str) -> dict[str, str]:
    """The libpq TLS parameters of a KWDB certificate directory; each file must exist."""
    base = Path(certs_dir).expanduser()
    wanted = {
        "sslrootcert": base / "ca.crt",
        "sslcert": base / f"client.{user}.crt",
        "sslkey": base / f"client.{user}.key",
    }
    if not base.is_dir():
        raise ProfileError(f"KWDB certificate directory {base} does not exist")
    missing = [p.name for p in wanted.values() if not p.is_file()]
    if missing:
        raise ProfileError(
            f"KWDB certificate directory {base} is missing {', '.join(missing)}",
            hint=f"it needs ca.crt, client.{user}.crt and client.{user}.key",
        )
    return {k: str(v) for k, v in wanted.items()}


# -- DSN parsing -------------------------------------------------------------------------


@dataclass
class ParsedDsn:
    profile: Profile
    password: str | None


def parse_dsn(name: str, dsn: str) -> ParsedDsn:
    """Split a libpq URI or keyword string into a Profile and the password it carried, if any."""
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError: libpq's parser message
        raise UsageError(f"not a valid connection string: {_strip_secret(str(exc), dsn)}") from None
    password = params.pop("password", None)
    params.pop("sslpassword", None)
    return ParsedDsn(profile=profile_from_params(name, params),
                     password=None if password is None else str(password))


def profile_from_params(name: str, params: dict[str, Any]) -> Profile:
    kwargs: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, value in params.items():
        if value is None or key in SECRET_KEYS:
            continue
        if key == "port":
            try:
                kwargs["port"] = int(value)
            except ValueError:
                raise UsageError(f"port {value!r} is not a number") from None
        elif key in _LIBPQ_FIELDS:
            kwargs[key] = str(value)
        else:
            extra[key] = str(value)
    return Profile(name=name, extra=extra, **kwargs)


_KW_SECRET_RE = re.compile(r"\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
_URI_SECRET_RE = re.compile(r"[?&](?:ssl)?password=([^&#]*)", re.IGNORECASE)


def _secret_candidates(dsn: str) -> set[str]:
    """Every text in ``dsn`` that may be a password, found without libpq (the DSN may not parse)."""
    found: set[str] = set()
    if "://" in dsn:
        netloc = re.split(r"[/?#]", dsn.split("://", 1)[1], maxsplit=1)[0]
        userinfo = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
        found.update(_URI_SECRET_RE.findall(dsn))
    else:
        for raw in _KW_SECRET_RE.findall(dsn):
            found.add(raw)
            if raw.startswith("'"):
                found.add(raw.strip("'").replace("\\'", "'").replace("\\\\", "\\"))
    found |= {unquote(s) for s in found}
    return {s for s in found if s}


def _strip_secret(message: str, dsn: str) -> str:
    """libpq error texts can echo the input (a bad URI comes back whole); never let a password through."""
    for secret in sorted(_secret_candidates(dsn), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


# -- keyring -------------------------------------------------------------------------------


def keyring_available() -> bool:
    """True when a real keyring backend (not the fail/null one) is usable."""
    if os.environ.get("KWTUI_NO_KEYRING"):
        return False
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    name = type(backend).__module__ + "." + type(backend).__name__
    if "null" in name.lower() or "fail" in name.lower():
        return False
    try:
        return float(getattr(backend, "priority", 1)) > 0
    except Exception:
        return True


def keyring_get(profile_name: str) -> str | None:
    if not keyring_available():
        return None
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, profile_name)
    except Exception:
        return None


def keyring_set(profile_name: str, password: str) -> bool:
    if not keyring_available():
        return False
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, profile_name, password)
        return True
    except Exception:
        return False


def keyring_delete(profile_name: str) -> None:
    if not keyring_available():
        return
    try:
        import keyring

        keyring.delete_password(KEYRING_SERVICE, profile_name)
    except Exception:
        pass


PASSWORD_SOURCES_HINT = (
    "supply it through ~/.pgpass, the PGPASSWORD variable, a system keyring, or type it when asked"
)


# -- the store -------------------------------------------------------------------------------


class ProfileStore:
    """Reads and writes the profiles TOML file. Writes are atomic and mode 0600."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.profiles_file()

    def load(self) -> dict[str, Profile]:
        if not self.path.exists():
            return {}
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"cannot read profiles from {self.path}: {exc}") from None
        table = data.get("profiles", {})
        if not isinstance(table, dict):
            raise ProfileError(f"{self.path}: [profiles] must be a table")
        return {name: Profile.from_toml(name, body) for name, body in table.items()}

    def names(self) -> list[str]:
        return sorted(self.load())

    def get(self, name: str) -> Profile:
        profiles = self.load()
        try:
            return profiles[name]
        except KeyError:
            known = ", ".join(sorted(profiles)) or "none saved"
            raise ProfileError(f"unknown profile {name!r}", hint=f"known: {known}") from None

    def save(self, profile: Profile, *, replace: bool = True) -> None:
        profiles = self.load()
        if not replace and profile.name in profiles:
            raise UsageError(f"profile {profile.name!r} exists already")
        profiles[profile.name] = profile
        self._write(profiles.values())

    def remove(self, name: str) -> None:
        profiles = self.load()
        if name not in profiles:
            raise ProfileError(f"unknown profile {name!r}")
        del profiles[name]
        self._write(profiles.values())
        keyring_delete(name)

    def _write(self, profiles: Iterable[Profile]) -> None:
        body = {"profiles": {p.name: p.to_toml() for p in sorted(profiles, key=lambda p: p.name)}}
        text = tomli_w.dumps(body)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("# kwtui connection profiles. Passwords are never stored here.\n")
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)


@dataclass
class AddResult:
    profile: Profile
    messages: list[str]


def add_profile_from_dsn(store: ProfileStore, name: str, dsn: str, *, replace: bool = False) -> AddResult:
    """Save a profile from a DSN. A password in the DSN goes to the keyring or is dropped."""
    parsed = parse_dsn(name, dsn)
    messages: list[str] = []
    store.save(parsed.profile, replace=replace)
    if parsed.password:
        if keyring_set(name, parsed.password):
            messages.append(f"the password was stored in the system keyring (service {KEYRING_SERVICE!r}), not on disk")
        else:
            messages.append(
                "the password in the connection string was not saved (no system keyring here); "
                + PASSWORD_SOURCES_HINT
            )
    return AddResult(profile=parsed.profile, messages=messages)


def conninfo_text(params: dict[str, Any]) -> str:
    """libpq parameters as a keyword string (``host=... port=...``), secrets left out."""
    clean = {k: v for k, v in params.items() if k not in SECRET_KEYS and v not in (None, "")}
    return pg_conninfo.make_conninfo(**clean) if clean else ""
