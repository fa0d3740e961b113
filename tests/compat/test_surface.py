"""Issue 4 item 2: the instance surface of asynchttp.Http / BlockingHttp is httplib2.Http's:
the same 20 plain attributes with the same defaults and types, the same methods, and
pickling that keeps exactly those attributes (google-auth-httplib2 and
google-api-python-client rely on them)."""

from __future__ import annotations

import pickle
from typing import Any

import httplib2
import pytest

import asynchttp

CLIENTS = [asynchttp.Http, asynchttp.BlockingHttp]


@pytest.fixture(params=CLIENTS, ids=lambda c: c.__name__)
def pair(request: Any):
    mine = request.param(proxy_info=None)
    theirs = httplib2.Http(proxy_info=None)
    yield mine, theirs
    mine.close()


def test_same_attribute_names(pair: tuple) -> None:
    mine, theirs = pair
    assert set(vars(mine)) == set(vars(theirs))
    assert len(vars(theirs)) == 20


def test_same_defaults_and_types(pair: tuple) -> None:
    mine, theirs = pair
    for name, value in vars(theirs).items():
        assert type(getattr(mine, name)) is type(value), name
        if name not in ("credentials", "certificates"):
            assert getattr(mine, name) == value, name
    assert mine.credentials.credentials == [] and mine.certificates.credentials == []


def test_redirect_codes_set_arithmetic_and_list_methods(pair: tuple) -> None:
    mine, _ = pair
    mine.redirect_codes = mine.redirect_codes - {308}
    assert 308 not in mine.redirect_codes and 301 in mine.redirect_codes
    mine.optimistic_concurrency_methods.append("DELETE")
    mine.safe_methods.append("PROPFIND")
    assert "DELETE" in mine.optimistic_concurrency_methods and "PROPFIND" in mine.safe_methods


def test_credentials_methods(pair: tuple) -> None:
    mine, theirs = pair
    for http in (mine, theirs):
        http.add_credentials("u", "p", "Example.ORG:8080")
        http.add_certificate("k.pem", "c.pem", "Example.ORG", password="pw")
    assert mine.credentials.credentials == theirs.credentials.credentials
    assert mine.certificates.credentials == theirs.certificates.credentials
    for http in (mine, theirs):
        http.authorizations.append(object())
        http.clear_credentials()
    assert mine.credentials.credentials == [] == mine.authorizations


def test_close_clears_credentials_and_certificates(pair: tuple) -> None:
    mine, _ = pair
    mine.add_credentials("u", "p")
    mine.add_certificate("k", "c", "")
    mine.close()
    assert mine.credentials.credentials == [] and mine.certificates.credentials == []
    assert mine.connections == {}


def test_pickling_keeps_the_attribute_set(pair: tuple) -> None:
    mine, theirs = pair
    mine.follow_all_redirects = True
    mine.add_credentials("u", "p")
    restored = pickle.loads(pickle.dumps(mine))
    try:
        assert set(vars(restored)) == set(vars(theirs))
        assert restored.follow_all_redirects is True
        assert restored.credentials.credentials == [("", "u", "p")]
        assert restored.connections == {}
    finally:
        restored.close()


def test_string_cache_is_a_file_cache(tmp_path: Any) -> None:
    mine = asynchttp.Http(cache=str(tmp_path / "c"), proxy_info=None)
    try:
        assert isinstance(mine.cache, httplib2.FileCache)
        assert (tmp_path / "c").is_dir()
    finally:
        mine.close()
