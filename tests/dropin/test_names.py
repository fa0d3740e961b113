"""Issue 14 item 2: every public name of httplib2 is offered by ``asynchttp`` (the same
object, or asynchttp's own version of it), except the stdlib modules httplib2 imported
for itself, which docs/httplib2.rst says are not offered. Pickling an Http works while
``sys.modules["httplib2"]`` is asynchttp, and across that swap."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path
from typing import Any

import httplib2
import pytest

import asynchttp

REAL_HTTPLIB2 = httplib2

# asynchttp's own versions: the class, and module globals it reads from itself
OWN = {"Http", "RETRIES", "debuglevel", "CA_CERTS"}


def public_names() -> list[str]:
    return [n for n in dir(REAL_HTTPLIB2) if not n.startswith("_")]


def is_imported_module(value: Any) -> bool:
    """A module httplib2 imported for its own use (not one of its submodules, and not
    PySocks, which users reach as ``httplib2.socks``)."""
    if not isinstance(value, types.ModuleType):
        return False
    return not (value.__name__.startswith("httplib2.") or value.__name__ == "socks")


def test_every_public_name_is_offered_or_documented() -> None:
    offered, imported, missing = [], [], []
    for name in public_names():
        value = getattr(REAL_HTTPLIB2, name)
        if is_imported_module(value):
            imported.append(name)
        elif name in OWN:
            assert hasattr(asynchttp, name), name
            offered.append(name)
        elif getattr(asynchttp, name, None) is value:
            offered.append(name)
        else:
            missing.append(name)
    assert missing == []
    assert {"Credentials", "urlnorm", "CA_CERTS", "KeyCerts"} <= set(offered)
    assert len(offered) >= 55 and "os" in imported and "socket" in imported
    readme = " ".join((Path(asynchttp.__file__).parent.parent / "docs" / "httplib2.rst").read_text().split())
    assert "the modules httplib2 imports for itself" in readme


def test_own_versions() -> None:
    assert issubclass(asynchttp.Http, REAL_HTTPLIB2.Http)
    assert asynchttp.RETRIES == REAL_HTTPLIB2.RETRIES and asynchttp.debuglevel == REAL_HTTPLIB2.debuglevel
    assert asynchttp.CA_CERTS == REAL_HTTPLIB2.CA_CERTS


@pytest.fixture
def aliased(restore_httplib2: None) -> None:
    sys.modules["httplib2"] = asynchttp


def make(cls: type) -> Any:
    http = cls(proxy_info=None, cache=None)
    http.add_credentials("user", "secret", "example.org")
    http.add_certificate("key.pem", "cert.pem", "example.org")
    return http


@pytest.mark.parametrize("cls", [asynchttp.Http, asynchttp.BlockingHttp], ids=lambda c: c.__name__)
def test_pickle_under_the_module_alias(cls: type, aliased: None, tmp_path: Path) -> None:
    http = make(cls)
    http.cache = REAL_HTTPLIB2.FileCache(str(tmp_path / "cache"))
    restored = None
    try:
        data = pickle.dumps(http)  # finds httplib2.Credentials, KeyCerts, FileCache on asynchttp
        restored = pickle.loads(data)
        assert type(restored) is cls
        assert type(restored.credentials) is REAL_HTTPLIB2.Credentials
        assert restored.credentials.credentials == [("example.org", "user", "secret")]
        assert type(restored.certificates) is REAL_HTTPLIB2.KeyCerts
        assert isinstance(restored.cache, REAL_HTTPLIB2.FileCache)
    finally:
        for obj in (http, restored):
            if obj is not None:
                obj.shutdown()


def test_pickles_cross_the_alias_both_ways(restore_httplib2: None) -> None:
    plain = make(asynchttp.BlockingHttp)
    data_plain = pickle.dumps(plain)
    sys.modules["httplib2"] = asynchttp
    data_aliased = pickle.dumps(plain)
    from_plain = pickle.loads(data_plain)  # made without the alias, read with it
    sys.modules["httplib2"] = REAL_HTTPLIB2
    from_aliased = pickle.loads(data_aliased)  # and the other way
    try:
        for restored in (from_plain, from_aliased):
            assert restored.credentials.credentials == [("example.org", "user", "secret")]
    finally:
        for obj in (plain, from_plain, from_aliased):
            obj.shutdown()


def test_httplib2s_own_http_cannot_pickle_under_the_alias(aliased: None) -> None:
    """Where the alias is not sound (docs/httplib2.rst says so): under it, the name
    ``httplib2.Http`` is asynchttp's class, so pickle cannot name httplib2's own."""
    theirs = REAL_HTTPLIB2.Http(proxy_info=None)
    with pytest.raises(pickle.PicklingError, match="not the same object as httplib2.Http"):
        pickle.dumps(theirs)


def test_ca_certs_set_through_the_alias_is_used(aliased: None, tmp_path: Path) -> None:
    import asynchttp as alias

    path = str(tmp_path / "bundle.pem")
    original = REAL_HTTPLIB2.CA_CERTS
    alias.CA_CERTS = path  # httplib2's own attribute: one setting, read by both
    http = asynchttp.Http(proxy_info=None)
    try:
        assert http._pool_options().tls[0] == path == REAL_HTTPLIB2.CA_CERTS
    finally:
        alias.CA_CERTS = original
        http.shutdown()
    http = asynchttp.Http(proxy_info=None)
    try:
        assert http._pool_options().tls[0] == REAL_HTTPLIB2.CA_CERTS
    finally:
        http.shutdown()
