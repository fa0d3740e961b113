"""asynchttp: httplib2-compatible promises over a background asyncio loop.

``Http().request(...)`` takes httplib2's arguments and returns ``(response, content)``
at once: promises that stand for ``httplib2.Response`` and ``bytes`` and block only
when touched. ``BlockingHttp`` is the same client returning real values, for code
that wants only thread safety and pooling. The names httplib2 users import
(``Response``, the exception classes, ``ProxyInfo``...) are the very httplib2 objects.
"""

import logging as _logging

from httplib2 import (
    DEFAULT_MAX_REDIRECTS,
    FailedToDecompressContent,
    FileCache,
    HttpLib2Error,
    HttpLib2ErrorWithResponse,
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
    proxy_info_from_environment,
    proxy_info_from_url,
)

from httplib2 import REDIRECT_CODES, SAFE_METHODS

from ._errors import ShutdownError
from ._http import BlockingHttp, Http
from ._promise import ContentPromise, Promise, ResponsePromise

__version__ = "0.1.0"

# httplib2's module globals that users set. Code that did ``import asynchttp as
# httplib2`` sets these; the request pipeline reads them per request, as httplib2 does.
RETRIES = 2
debuglevel = 0

# asynchttp's own setting, read at each use: seconds an unused loop thread, callback
# worker or cache thread waits for new work before it ends (the next request starts
# what it needs again). Lower it where threads are counted right after use (tests).
IDLE_GRACE = 0.5

# A library logs; the application decides where it goes (no "last resort" stderr lines).
_logging.getLogger("asynchttp").addHandler(_logging.NullHandler())

__all__ = [
    "Http",
    "BlockingHttp",
    "Promise",
    "ResponsePromise",
    "ContentPromise",
    "ShutdownError",
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
    "IDLE_GRACE",
]
