"""asynchttp: httplib2-compatible promises over a background asyncio loop.

``Http().request(...)`` takes httplib2's arguments and returns ``(response, content)``
at once: promises that stand for ``httplib2.Response`` and ``bytes`` and block only
when touched. ``BlockingHttp`` is the same client returning real values, for code
that wants only thread safety and pooling. The names httplib2 users import
(``Response``, the exception classes, ``ProxyInfo``...) are the very httplib2 objects.
"""

import logging as _logging
import sys as _sys

import httplib2 as _httplib2_module  # not "_httplib2": that is our submodule

# httplib2's public names, the very same objects: those in ``__all__`` below are
# asynchttp's API; the rest are here so that code doing
# ``import asynchttp as httplib2`` (or ``sys.modules["httplib2"] = asynchttp``) finds
# what it uses: googleapiclient looks up ``httplib2.Credentials`` (pickling an Http
# needs it), lazr.restfulclient imports ``urlnorm``, proxies are built from
# ``httplib2.socks.PROXY_TYPE_HTTP``. Only the stdlib modules httplib2 imported for
# itself (``os``, ``re``, ``socket``...) are not offered.
from httplib2 import (  # noqa: F401 - re-exported
    AUTH_SCHEME_CLASSES,
    AUTH_SCHEME_ORDER,
    CA_CERTS,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_TLS_VERSION,
    HOP_BY_HOP,
    NORMALIZE_SPACE,
    REDIRECT_CODES,
    RETRIES,
    SAFE_METHODS,
    SCHEME_TO_CONNECTION,
    URI,
    USE_WWW_AUTH_STRICT_PARSING,
    AllHosts,
    Authentication,
    BasicAuthentication,
    Credentials,
    DecoderProtocol,
    DeflateDecoder,
    DigestAuthentication,
    FailedToDecompressContent,
    FileCache,
    GoogleLoginAuthentication,
    HmacDigestAuthentication,
    HTTPConnectionWithTimeout,
    HttpLib2Error,
    HttpLib2ErrorWithResponse,
    HTTPSConnectionWithTimeout,
    KeyCerts,
    LimitDecoder,
    MalformedHeader,
    ProxiesUnavailableError,
    ProxyInfo,
    RedirectLimit,
    RedirectMissingLocation,
    RelativeURIError,
    Response,
    ServerNotFoundError,
    UnimplementedDigestAuthOptionError,
    UnimplementedHmacDigestAuthOptionError,
    WsseAuthentication,
    ZlibDecoder,
    auth,
    certs,
    debuglevel,
    decode,
    error,
    has_timeout,
    iri2uri,
    parse_uri,
    proxy_info_from_environment,
    proxy_info_from_url,
    re_unsafe,
    re_url_scheme,
    safename,
    socks,
    try_value_or_env,
    urlnorm,
)

from . import _seams
from ._bulk import Outcome
from ._errors import ShutdownError, error_phase
from ._facts import Attempt, Timings
from ._http import BlockingHttp, Http
from ._loop import use_uvloop
from ._promise import ContentPromise, Promise, ResponsePromise
from ._ratelimit import RateLimit
from ._retry import Retry
from ._sink import ResumeError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """httplib2's private names (``_normalize_headers``, ``_parse_cache_control``...),
    which some libraries reach for, through the module alias too."""
    if name.startswith("_") and not name.startswith("__"):
        try:
            return getattr(_httplib2_module, name)
        except AttributeError:
            pass
    raise AttributeError("module 'asynchttp' has no attribute %r" % (name,))


# asynchttp's own setting, read at each use: seconds an unused loop thread, callback
# worker or cache thread waits for new work before it ends (the next request starts
# what it needs again). Lower it where threads are counted right after use (tests).
IDLE_GRACE = 0.5

# Every httplib2 object above is offered as a window onto httplib2's own attribute:
# ``asynchttp.RETRIES = 1`` (what ``httplib2.RETRIES = 1`` does under
# ``sys.modules["httplib2"] = asynchttp``) sets httplib2's, where httplib2's own code
# and asynchttp's both read it at the next request; a patch of httplib2's
# (``SCHEME_TO_CONNECTION``, ``CA_CERTS``...) is seen through asynchttp's name.
_FORWARDED = _seams.forward_httplib2_names(
    _sys.modules[__name__],
    [
        _name
        for _name, _value in list(globals().items())
        if not _name.startswith("_") and getattr(_httplib2_module, _name, _seams) is _value
    ],
)


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FORWARDED)


# A library logs; the application decides where it goes (no "last resort" stderr lines).
_logging.getLogger("asynchttp").addHandler(_logging.NullHandler())

__all__ = [
    "Http",
    "BlockingHttp",
    "Promise",
    "ResponsePromise",
    "ContentPromise",
    "ShutdownError",
    "Retry",
    "RateLimit",
    "Attempt",
    "Timings",
    "Outcome",
    "ResumeError",
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
    "SAFE_METHODS",
    "REDIRECT_CODES",
    "RETRIES",
    "debuglevel",
    "CA_CERTS",
    "Credentials",
    "KeyCerts",
    "urlnorm",
    "IDLE_GRACE",
    "error_phase",
    "use_uvloop",
]
