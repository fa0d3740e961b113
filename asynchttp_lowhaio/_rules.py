"""HTTP rules written once for both packages: token grammar, default ports, idempotent
methods and credential-free URLs for logs.  Stdlib only, no I/O.

The core's parser, writer and pool use these; the package exports them (``__all__``
of ``asynchttp_lowhaio``), and the ``asynchttp`` facade and its command line import
them from there, never from this module, so a rule changes in one place.
"""

from __future__ import annotations

import re

__all__ = [
    "TOKEN",
    "TOKEN_TEXT",
    "FIELD_VALUE",
    "FIELD_VALUE_FORBIDDEN",
    "FIELD_VALUE_FORBIDDEN_TEXT",
    "DEFAULT_PORTS",
    "IDEMPOTENT_METHODS",
    "without_userinfo",
]

# token = 1*tchar (RFC 9110 5.6.2): methods and field names.  Use with fullmatch.
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# the same grammar for text (the command line checks what the user typed)
TOKEN_TEXT = re.compile(TOKEN.pattern.decode("ascii"))

# field-value (RFC 9110 5.5): VCHAR / obs-text / SP / HTAB; never CR, LF, NUL or
# another CTL. FIELD_VALUE for fullmatch, FIELD_VALUE_FORBIDDEN to find the first
# byte that breaks it; the text form for a str value that will be sent as Latin-1
# (a character above U+00FF is not refused by the grammar: the encoding refuses it).
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
FIELD_VALUE_FORBIDDEN = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")
FIELD_VALUE_FORBIDDEN_TEXT = re.compile("[^\t\x20-\x7e\x80-\U0010ffff]")

# RFC 9110 4.2.1 and 4.2.2: the port when the authority names none.
DEFAULT_PORTS = {"http": 80, "https": 443}

# RFC 9110 9.2.2: repeating these cannot change the outcome on the server, so a
# request whose bytes may have been sent is retried only for these.
IDEMPOTENT_METHODS = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


# "//user:password@" at the start of an authority, wherever a URL stands in a text
# (greedy up to the last "@" of the authority: a password may hold an "@").
_USERINFO = re.compile(r"//[^/?#\s'\"]*@")


def without_userinfo(text: str) -> str:
    """``text`` (a URL, or a message quoting URLs) with every ``user:password@``
    removed from the authorities: what logs, reprs and error messages may show."""
    return _USERINFO.sub("//", text) if "@" in text else text
