"""How an Http's core pools reach servers: httplib2's TLS settings, client
certificates and proxies, as the options each new pool is built from.

``_PoolOptions`` is read from the Http's attributes when connections are made (the
first request, and after ``close()``), as httplib2 reads them. ``_Tunnels`` is the
core's ``get_tunnel``: httplib2's proxy decision per origin (``_proxy.plan_proxy``),
and ``_Tunnel`` the handshake (CONNECT, SOCKS4, SOCKS5) run before any TLS.
``_lazy_ssl_context`` builds httplib2's own TLS context on the first TLS connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import weakref
from typing import Any, Callable, Optional

import httplib2

from . import _httplib2, _proxy
from ._protocols import HttpAttributes


def _default_ca_certs() -> str:
    """httplib2's ``CA_CERTS`` as it is now (``asynchttp.CA_CERTS``, and so
    ``httplib2.CA_CERTS`` under ``import asynchttp as httplib2``, is the same attribute)."""
    return httplib2.CA_CERTS  # type: ignore[no-any-return]


def core_timeouts(timeout: Optional[float]) -> dict[str, float]:
    """httplib2's one ``timeout`` number as the core's deadlines, decided here only.

    http.client sets it on the socket, so it bounds the connect (with the TLS and
    proxy handshakes) and every read and write: the core's ``connect_timeout`` and
    ``socket_timeout``. The core derives the deadline for a whole response head from
    ``socket_timeout`` (``HEAD_TIMEOUT_FACTOR`` times it, at most ``HEAD_TIMEOUT_CAP``),
    so a server dripping its head a byte at a time is still cut off. ``None`` means
    ``socket.getdefaulttimeout()``, read now, as http.client reads it when it
    connects; still ``None``: the core's own defaults.
    """
    if timeout is None:
        timeout = socket.getdefaulttimeout()
    if timeout is None:
        return {}
    return {"connect_timeout": timeout, "socket_timeout": timeout}


class _PoolOptions:
    """What a new core pool is made from: the core's options, httplib2's TLS settings
    (ca_certs, disable validation, max and min version), its client certificates and
    its proxy decisions."""

    __slots__ = ("options", "tls", "certificates", "proxies")

    def __init__(
        self,
        options: dict[str, Any],
        tls: Optional[tuple[Any, ...]],
        certificates: Any,
        proxies: Optional["_Tunnels"] = None,
    ) -> None:
        self.options = options
        self.tls = tls
        self.certificates = certificates
        self.proxies = proxies


_UNKNOWN: Any = object()  # no plan made yet for an origin (None is "no proxy")


class _Tunnels:
    """The core's ``get_tunnel`` for one Http: httplib2's proxy decision for each
    scheme://host:port (``_proxy.plan_proxy`` over ``Http.proxy_info``), made once per
    origin as httplib2 makes it once per connection object, until close()."""

    def __init__(self, http: HttpAttributes) -> None:
        self._http = weakref.ref(http)
        self._fallback = http.proxy_info  # if the Http is gone while requests still run
        self._plans: dict[tuple[str, str, int], Optional[_proxy.ProxyPlan]] = {}

    def plan(self, scheme: str, host: str, port: int) -> Optional[_proxy.ProxyPlan]:
        key = (scheme, host, port)
        try:
            return self._plans[key]
        except KeyError:
            pass
        http = self._http()
        proxy_info = http.proxy_info if http is not None else self._fallback
        # httplib2.socks as it is now: httplib2 refuses proxies when it is None
        plan = self._plans[key] = _proxy.plan_proxy(proxy_info, scheme, host, httplib2.socks)
        return plan

    def known_plan(self, scheme: str, host: str, port: int) -> Optional[_proxy.ProxyPlan]:
        return self._plans.get((scheme, host, port))

    def __call__(self, scheme: str, host: str, port: int) -> Optional["_Tunnel"]:
        # (the core asks for every request: the known plan without a second call)
        plan = self._plans.get((scheme, host, port), _UNKNOWN)
        if plan is _UNKNOWN:
            plan = self.plan(scheme, host, port)
        if plan is None:
            return None
        return _Tunnel(plan, _proxy.needs_local_resolution(plan, host))


class _Tunnel:
    """One way through a proxy, as the core's connect step wants it: where to connect,
    a key keeping its connections apart, and the handshake (CONNECT, SOCKS4, SOCKS5)
    run on the connected raw socket before any TLS."""

    __slots__ = ("plan", "host", "port", "key", "resolve_target")

    def __init__(self, plan: _proxy.ProxyPlan, resolve_target: bool) -> None:
        self.plan = plan
        self.host = plan.proxy_host
        self.port = plan.proxy_port
        self.key = plan
        self.resolve_target = resolve_target

    async def negotiate(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, host: str, port: int, resolved_ip: Optional[str]
    ) -> bytes:
        """Run the handshake; failures as PySocks raises them through httplib2:
        ``GeneralProxyError("Socket error", <the specific error>)``."""
        return await _proxy.drive_socket(_proxy.negotiation(self.plan, host, port, resolved_ip), loop, sock)


def _lazy_ssl_context(tls: tuple[Any, ...], identity: Any) -> Callable[[], ssl.SSLContext]:
    """A get_ssl_context for the core: httplib2's own context builder (same defaults,
    same errors), called once, on the first TLS connection (it reads files)."""
    made: list[ssl.SSLContext] = []
    lock = threading.Lock()

    def get_ssl_context() -> ssl.SSLContext:
        if not made:
            with lock:
                if not made:
                    ca_certs, disable_validation, maximum, minimum = tls
                    key_file, cert_file, password = identity if identity is not None else (None, None, None)
                    made.append(
                        _httplib2.build_ssl_context(
                            disable_validation,
                            ca_certs,
                            cert_file,
                            key_file,
                            maximum_version=maximum,
                            minimum_version=minimum,
                            key_password=password,
                        )
                    )
        return made[0]

    return get_ssl_context
