"""Certificates made at test time with trustme, and the SSL contexts built from them.

One CA per test session signs a server certificate for localhost, 127.0.0.1 and ::1.
Hostile-TLS tests ask for more: ``issue()`` for other names or validity periods
(expired, not yet valid, wrong host) and ``untrusted_ca`` for a chain no client trusts.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field

import trustme

__all__ = ["TlsMaterial", "SERVER_NAMES"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class TlsMaterial:
    ca: trustme.CA = field(default_factory=trustme.CA)
    cert: trustme.LeafCert = field(init=False)
    untrusted_ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.cert = self.ca.issue_cert(*SERVER_NAMES)

    def issue(
        self,
        *names: str,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        ca: trustme.CA | None = None,
    ) -> trustme.LeafCert:
        """A certificate for ``names`` (default: the usual loopback names)."""
        return (ca or self.ca).issue_cert(*(names or SERVER_NAMES), not_before=not_before, not_after=not_after)

    def expired_cert(self) -> trustme.LeafCert:
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.issue(not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1))

    def self_signed_cert(self) -> trustme.LeafCert:
        """Signed by a CA that no client context trusts."""
        return self.issue(ca=self.untrusted_ca)

    def server_context(self, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        (cert or self.cert).configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Trusts our CA only; hostname checking and verification on (the defaults)."""
        # cadata given: the system's CAs are not loaded, only ours is trusted
        return ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode("ascii"))
