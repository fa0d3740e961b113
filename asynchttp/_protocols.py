"""The shapes the rooms hand each other, as typing Protocols (no code runs here).

The request pipeline (``_semantics`` and its policies ``_auth``, ``_redirects``,
``_cache``), the tunnels and the job read an ``Http`` through its httplib2
attributes only. They cannot import ``_http`` (which imports them), so they name
it by what they read: ``HttpAttributes``; httplib2's own flow (``_flow``) also calls
the one method of asynchttp's ``Http`` it needs: ``FlowHttp``.

Attributes are declared read-only (properties): the pipeline reads them where
httplib2 reads them and never rebinds one (it may mutate a list, as httplib2 does).
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

__all__ = ["HttpAttributes", "FlowHttp"]


class HttpAttributes(Protocol):
    """An ``httplib2.Http`` as the pipeline reads it: its attributes. (Its
    ``_normalize_headers`` seam is looked up with ``getattr``, as on any object.)"""

    @property
    def cache(self) -> Any: ...  # None, a directory name or an object with get/set/delete

    @property
    def timeout(self) -> Optional[float]: ...

    @property
    def proxy_info(self) -> Any: ...  # a ProxyInfo, None, or a function of the scheme

    @property
    def force_exception_to_status_code(self) -> bool: ...

    @property
    def safe_methods(self) -> Any: ...  # httplib2: a list of method names

    @property
    def optimistic_concurrency_methods(self) -> Any: ...

    @property
    def ignore_etag(self) -> bool: ...

    @property
    def follow_redirects(self) -> bool: ...

    @property
    def follow_all_redirects(self) -> bool: ...

    @property
    def redirect_codes(self) -> Any: ...  # a set of status codes

    @property
    def forward_authorization_headers(self) -> bool: ...

    @property
    def authorizations(self) -> list[Any]: ...  # httplib2.Authentication objects

    @property
    def credentials(self) -> Any: ...  # httplib2.Credentials

    @property
    def certificates(self) -> Any: ...  # httplib2.KeyCerts

    @property
    def limit_kwargs(self) -> dict[str, Any]: ...  # httplib2's decoding limits


class FlowHttp(HttpAttributes, Protocol):
    """asynchttp's ``Http`` as httplib2's own flow (``_flow``) drives it."""

    def _httplib2_request(
        self, uri: str, method: str, body: Any, headers: Any, redirections: int, connection_type: Any
    ) -> tuple[Any, Any]: ...
