"""httplib2's module-level names, read where and when httplib2 reads them.

httplib2's ``request()`` consults module globals at every call:
``SCHEME_TO_CONNECTION[scheme]`` for the connection class, the name
``HTTPSConnectionWithTimeout`` to decide how to build it, ``debuglevel`` for
http.client's printing, and (inside its connection classes and helpers)
``RETRIES``, ``CA_CERTS``, ``DEFAULT_TLS_VERSION``, ``socks``... Interception
tools and test suites patch them (vcrpy rebinds ``SCHEME_TO_CONNECTION`` and the
two connection classes), and expect the next request to see the patch.

Two things make that hold for asynchttp:

- ``forward_httplib2_names``: every httplib2 object that ``asynchttp`` offers under
  httplib2's name is a property of the ``asynchttp`` module that reads and writes
  ``httplib2``'s own attribute. ``httplib2.RETRIES = 1`` written through the module
  alias (``sys.modules["httplib2"] = asynchttp``) lands where httplib2's own code
  (run for subclass seams and connection classes) and asynchttp's read it: one
  setting, not two that drift apart.
- ``pool_stands_in`` (asked once per request, cheaply) and ``connection_for``: the
  pool serves a request only where httplib2 would use its own connection class
  with nothing the pool cannot reproduce; otherwise the request runs httplib2's own
  flow (``_flow``) with the class httplib2 would have looked up.
"""

from __future__ import annotations

import importlib
import types
from typing import Any, Iterable, Mapping, Optional

import httplib2

__all__ = ["pool_stands_in", "connection_for", "forward_httplib2_names"]

# httplib2's own connection classes, taken at import (before anyone patches them).
_OWN_CONNECTIONS: dict[str, type] = dict(httplib2.SCHEME_TO_CONNECTION)
_OWN_HTTPS: type = httplib2.HTTPSConnectionWithTimeout


def pool_stands_in() -> bool:
    """Whether httplib2, as its module stands now, would build only its own connection
    classes, built its own way, printing nothing: then the pool may serve requests.

    False once ``SCHEME_TO_CONNECTION`` maps any scheme to another class (or gains or
    loses a scheme), ``HTTPSConnectionWithTimeout`` names another class (httplib2
    decides with ``issubclass`` against that name which arguments a connection gets),
    or ``debuglevel`` is set (http.client prints the exchange). Checked for every
    scheme at once, so a redirect to another scheme stays in httplib2's flow too.
    """
    module = httplib2
    return (
        module.SCHEME_TO_CONNECTION == _OWN_CONNECTIONS
        and module.HTTPSConnectionWithTimeout is _OWN_HTTPS
        and not module.debuglevel
    )


def connection_for(scheme: Optional[str], stand_ins: Mapping[str, type]) -> Any:
    """The ``connection_type`` httplib2's flow is given for ``scheme`` when the caller
    gave none: the pool's stand-in where httplib2 would use its own class and the pool
    can do what that class does; else the class httplib2 looks up itself. None for a
    scheme httplib2 has no class for (httplib2 then raises its own ``KeyError``)."""
    module = httplib2
    table = module.SCHEME_TO_CONNECTION
    if scheme not in table:
        return None
    cls = table[scheme]
    if (
        cls is _OWN_CONNECTIONS.get(scheme)  # type: ignore[arg-type]
        and module.HTTPSConnectionWithTimeout is _OWN_HTTPS
        and not module.debuglevel
    ):
        return stand_ins.get(scheme, cls)  # type: ignore[arg-type]
    return cls


def _forwarding_property(name: str) -> property:
    def get(_module: types.ModuleType) -> Any:
        return getattr(httplib2, name)

    def set_(_module: types.ModuleType, value: Any) -> None:
        setattr(httplib2, name, value)

    def delete(_module: types.ModuleType) -> None:
        delattr(httplib2, name)

    return property(get, set_, delete, "httplib2.%s, read and written through" % name)


def _reduce_module(module: types.ModuleType) -> tuple[Any, tuple[str]]:
    return importlib.import_module, (module.__name__,)


def forward_httplib2_names(module: types.ModuleType, names: Iterable[str]) -> frozenset[str]:
    """Make each of ``names`` on ``module`` a window onto ``httplib2``'s attribute of
    that name (reads, writes and deletes go to httplib2's module). Done by giving
    ``module`` a ``ModuleType`` subclass holding one property per name (Python's data
    model allows assigning a module's ``__class__`` for this). The names leave
    ``module.__dict__`` so nothing holds a stale copy; ``module.__dir__`` should list
    them (see ``asynchttp.__dir__``)."""
    forwarded = frozenset(names)
    namespace: dict[str, Any] = {name: _forwarding_property(name) for name in sorted(forwarded)}
    namespace["__slots__"] = ()
    # Pickled by name, as picklers that know modules (cloudpickle, for dask) pickle a
    # plain module: their tables are keyed by ``types.ModuleType`` itself.
    namespace["__reduce__"] = _reduce_module
    cls = type("asynchttp_module", (types.ModuleType,), namespace)
    for name in forwarded:
        module.__dict__.pop(name, None)
    module.__class__ = cls
    return forwarded
