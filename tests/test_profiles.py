"""The profile store: TOML round trip, file modes, DSN parsing, passwords never on disk."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest

from kwtui.errors import ProfileError, UsageError
from kwtui.profiles import (
    KEYRING_SERVICE,
    Profile,
    ProfileStore,
    add_profile_from_dsn,
    keyring_available,
    keyring_get,
    kwdb_cert_params,
    parse_dsn,
)


def _all_file_text(root: Path) -> str:
    """Everything written under ``root`` (bytes decoded leniently), for secret scans."""
    chunks = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            chunks.append((Path(dirpath) / name).read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-process keyring for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def store(profiles_path: Path) -> ProfileStore:
    return ProfileStore(profiles_path)


# -- the store ---------------------------------------------------------------------------


def test_round_trip_keeps_every_field(store: ProfileStore, tmp_path: Path) -> None:
    full = Profile(
        name="prod kwdb",
        host="db.example.com",
        port=26257,
        user="root",
        dbname="defaultdb",
        sslmode="verify-ca",
        sslrootcert="/etc/kw/ca.crt",
        sslcert="/etc/kw/client.root.crt",
        sslkey="/etc/kw/client.root.key",
        certs_dir=str(tmp_path / "certs"),
        application_name="kwtui-test",
        options="-c search_path=app",
        service="kwsvc",
        extra={"connect_timeout": "5", "target_session_attrs": "read-write"},
    )
    minimal = Profile(name="local")
    store.save(full)
    store.save(minimal)

    loaded = ProfileStore(store.path).load()
    assert set(loaded) == {"prod kwdb", "local"}
    assert loaded["prod kwdb"] == full
    assert loaded["local"] == minimal
    assert store.names() == ["local", "prod kwdb"]
    assert store.get("prod kwdb").extra == {"connect_timeout": "5", "target_session_attrs": "read-write"}


def test_file_is_0600_and_dir_0700(store: ProfileStore) -> None:
    store.save(Profile(name="a", host="h"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    # a rewrite keeps the mode and leaves no temporary file behind
    store.save(Profile(name="b", host="h2"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["profiles.toml"]


def test_save_without_replace_refuses_existing(store: ProfileStore) -> None:
    store.save(Profile(name="a", host="h1"))
    with pytest.raises(UsageError, match="exists already"):
        store.save(Profile(name="a", host="h2"), replace=False)
    store.save(Profile(name="a", host="h2"))
    assert store.get("a").host == "h2"


def test_unknown_profile_raises(store: ProfileStore) -> None:
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        store.get("nope")
    store.save(Profile(name="known"))
    with pytest.raises(ProfileError) as info:
        store.get("nope")
    assert "known" in info.value.one_line()
    with pytest.raises(ProfileError):
        store.remove("nope")


def test_remove_deletes(store: ProfileStore) -> None:
    store.save(Profile(name="a", host="h"))
    store.save(Profile(name="b", host="h"))
    store.remove("a")
    assert store.names() == ["b"]
    assert "[profiles.a]" not in store.path.read_text()
    with pytest.raises(ProfileError):
        store.get("a")


def test_unknown_keys_in_file_are_reported(store: ProfileStore) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text('[profiles.x]\nhost = "h"\ncolour = "blue"\n')
    with pytest.raises(ProfileError, match="colour"):
        store.load()


def test_password_in_file_is_ignored(store: ProfileStore) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text('[profiles.x]\nhost = "h"\npassword = "hand-edited"\n')
    profile = store.get("x")
    assert "password" not in profile.conninfo_params()


@pytest.mark.parametrize("name", ["", "  ", "a\nb", 'a"b', "a[b]"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        Profile(name=name)


# -- DSNs with passwords --------------------------------------------------------------------

SECRET_DSNS = [
    pytest.param("postgresql://u:Very-Secret-1@h:1/d", "Very-Secret-1", id="uri"),
    pytest.param("host=h password='p w Secret-2' user=u", "p w Secret-2", id="keyword-quoted"),
    pytest.param("host=h user=u sslpassword=Key-Secret-3 sslmode=require", "Key-Secret-3", id="sslpassword"),
    pytest.param("postgresql://u@h/d?password=Query-Secret-4&connect_timeout=3", "Query-Secret-4", id="uri-query"),
]


@pytest.mark.parametrize(("dsn", "secret"), SECRET_DSNS)
def test_dsn_password_never_reaches_disk_without_keyring(
    store: ProfileStore, profiles_path: Path, dsn: str, secret: str
) -> None:
    assert not keyring_available()  # the test session uses keyring's fail backend
    result = add_profile_from_dsn(store, "p", dsn)
    profile = store.get("p")
    assert profile.host == "h"
    assert "password" not in profile.conninfo_params()
    assert "sslpassword" not in profile.conninfo_params()
    assert secret not in _all_file_text(profiles_path.parent)
    assert secret not in repr(result)
    if "sslpassword" not in dsn:
        text = " ".join(result.messages)
        assert "not saved" in text
        assert "PGPASSWORD" in text and "pgpass" in text  # tells how to supply it
        assert secret not in text


def test_dsn_password_goes_to_keyring_not_disk(
    store: ProfileStore, profiles_path: Path, memory_keyring: MemoryKeyring
) -> None:
    assert keyring_available()
    result = add_profile_from_dsn(store, "kw", "postgresql://root:Ring-Secret-5@kw.example:26257/defaultdb")
    assert memory_keyring.store == {(KEYRING_SERVICE, "kw"): "Ring-Secret-5"}
    assert keyring_get("kw") == "Ring-Secret-5"
    assert any("keyring" in m for m in result.messages)
    assert "Ring-Secret-5" not in _all_file_text(profiles_path.parent)
    profile = store.get("kw")
    assert (profile.host, profile.port, profile.user, profile.dbname) == ("kw.example", 26257, "root", "defaultdb")
    # removing the profile removes its keyring entry too
    store.remove("kw")
    assert memory_keyring.store == {}


def test_dsn_profile_name_taken(store: ProfileStore) -> None:
    add_profile_from_dsn(store, "p", "host=h1")
    with pytest.raises(UsageError):
        add_profile_from_dsn(store, "p", "host=h2")
    add_profile_from_dsn(store, "p", "host=h2", replace=True)
    assert store.get("p").host == "h2"


# -- parsing -----------------------------------------------------------------------------------


def test_keyword_string_parses() -> None:
    parsed = parse_dsn("k", "host=db.local port=5433 user=alice dbname=app sslmode=require connect_timeout=7")
    p = parsed.profile
    assert (p.host, p.port, p.user, p.dbname, p.sslmode) == ("db.local", 5433, "alice", "app", "require")
    assert p.extra == {"connect_timeout": "7"}
    assert parsed.password is None
    assert p.conninfo_params()["connect_timeout"] == "7"


def test_uri_parses() -> None:
    parsed = parse_dsn("u", "postgresql://bob:pw@[::1]:26257/defaultdb?sslmode=disable&application_name=x")
    p = parsed.profile
    assert (p.host, p.port, p.user, p.dbname, p.sslmode) == ("::1", 26257, "bob", "defaultdb", "disable")
    assert p.application_name == "x"
    assert parsed.password == "pw"
    assert p.describe() == "bob@::1:26257/defaultdb"


def test_service_only_profile() -> None:
    p = parse_dsn("s", "service=kwsvc").profile
    assert p.service == "kwsvc"
    assert p.conninfo_params() == {"service": "kwsvc", "application_name": "kwtui"}
    assert "service=kwsvc" in p.describe()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Leak-Me-6@[::1/d",  # libpq echoes a broken URI whole
        "host=h password=Leak-Me-6 nonsense",
        "host=h password='Leak-Me-6",
        "postgresql://u:Leak-Me-6@h/d?broken",
    ],
)
def test_invalid_dsn_is_usage_error_without_password(dsn: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_dsn("x", dsn)
    assert "not a valid connection string" in info.value.message
    assert "Leak-Me-6" not in info.value.one_line()
    assert "Leak-Me-6" not in str(info.value)


def test_non_numeric_port_is_usage_error() -> None:
    with pytest.raises(UsageError, match="port"):
        parse_dsn("x", "host=h port=abc")


# -- KWDB certificate directories --------------------------------------------------------------


def test_certs_dir_missing_files_are_named(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_text("ca")
    with pytest.raises(ProfileError) as info:
        kwdb_cert_params(str(certs), "root")
    text = info.value.one_line()
    assert "client.root.crt" in text and "client.root.key" in text
    assert "missing" in text
    assert "ca.crt, client.root.crt" not in info.value.message  # ca.crt exists: not listed as missing


def test_certs_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        Profile(name="kw", user="root", certs_dir=str(tmp_path / "nowhere")).conninfo_params()


def test_complete_certs_dir_gives_tls_params(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.crt", "client.admin.crt", "client.admin.key"):
        (certs / name).write_text(name)
    params = Profile(name="kw", host="kw1", port=26257, user="admin", certs_dir=str(certs)).conninfo_params()
    assert params["sslrootcert"] == str(certs / "ca.crt")
    assert params["sslcert"] == str(certs / "client.admin.crt")
    assert params["sslkey"] == str(certs / "client.admin.key")
    assert params["sslmode"] == "verify-full"
    assert params["host"] == "kw1" and params["port"] == "26257"
    # an explicit sslmode wins over the default
    params = Profile(name="kw", user="admin", certs_dir=str(certs), sslmode="verify-ca").conninfo_params()
    assert params["sslmode"] == "verify-ca"


def test_certs_dir_defaults_to_root_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGUSER", raising=False)
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.crt", "client.root.crt", "client.root.key"):
        (certs / name).write_text(name)
    params = Profile(name="kw", certs_dir=str(certs)).conninfo_params()
    assert params["sslcert"].endswith("client.root.crt")
