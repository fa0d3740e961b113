"""The request writer: URL to target, head validation, framing choice, chunk encoding.

No I/O here: these are the functions the pool calls before choosing a
connection, so every invalid input must fail as ``HttpLocalError`` (also a
``ValueError``) with nothing built.
"""

from __future__ import annotations

import pytest

from asynchttp_lowhaio._errors import HttpLocalError
from asynchttp_lowhaio._parser import ResponseParser
from asynchttp_lowhaio._writer import (
    BODY_METHODS,
    LAST_CHUNK,
    compose_head,
    encode_chunk,
    parse_url,
)

# ------------------------------------------------------------------ parse_url


@pytest.mark.parametrize(
    "url, params, target",
    [
        ("http://h.example/p?a=1", ((b"b", b"2"),), b"/p?a=1&b=2"),
        ("http://h.example/p?a=1", (("b", "x y"), ("c", "&=")), b"/p?a=1&b=x+y&c=%26%3D"),
        ("http://h.example/p", (("b", "2"), ("b", "3")), b"/p?b=2&b=3"),
        ("http://h.example/p", {"k": "v"}, b"/p?k=v"),
        ("http://h.example/p?", (), b"/p"),
        ("http://h.example/a%20b/%2F%zz?q=%26%3d", (), b"/a%20b/%2F%zz?q=%26%3d"),
        ("http://h.example/a b/\u00e9?q=\u00e9 x", (), b"/a%20b/%C3%A9?q=%C3%A9%20x"),
        ('http://h.example/a<b>"{|}`^\\', (), b"/a%3Cb%3E%22%7B%7C%7D%60%5E%5C"),
        ("http://h.example/p?a=/b?c&d=e+f", (), b"/p?a=/b?c&d=e+f"),
        ("http://h.example/p;x=1/:@!$&'()*+,=-._~", (), b"/p;x=1/:@!$&'()*+,=-._~"),
        ("http://h.example", (), b"/"),
        ("http://h.example?x=1", (), b"/?x=1"),
        ("http://h.example#frag", (), b"/"),
        ("http://h.example/p?q=1#frag", (("r", "2"),), b"/p?q=1&r=2"),
    ],
)
def test_request_target(url: str, params, target: bytes) -> None:
    assert parse_url(url, params).request_target == target


def test_percent_encoding_is_never_doubled() -> None:
    once = parse_url("http://h.example/a%2520b%C3%A9?x=%25").request_target
    assert once == b"/a%2520b%C3%A9?x=%25"
    # Feeding the encoded form back gives it unchanged.
    assert parse_url("http://h.example" + once.decode()).request_target == once


@pytest.mark.parametrize(
    "url, scheme, host, port, is_ip, host_header",
    [
        ("http://h.example/", "http", "h.example", 80, False, b"h.example"),
        ("https://h.example/", "https", "h.example", 443, False, b"h.example"),
        ("http://h.example:80/", "http", "h.example", 80, False, b"h.example"),
        ("https://h.example:443/", "https", "h.example", 443, False, b"h.example"),
        ("http://h.example:8080/", "http", "h.example", 8080, False, b"h.example:8080"),
        ("https://h.example:80/", "https", "h.example", 80, False, b"h.example:80"),
        ("http://h.example:443/", "http", "h.example", 443, False, b"h.example:443"),
        ("HTTP://H.Example:8080/", "http", "h.example", 8080, False, b"h.example:8080"),
        ("http://127.0.0.1:8080/", "http", "127.0.0.1", 8080, True, b"127.0.0.1:8080"),
        ("http://[::1]:8080/", "http", "::1", 8080, True, b"[::1]:8080"),
        ("https://[::1]/", "https", "::1", 443, True, b"[::1]"),
        ("http://[2001:DB8::1]/", "http", "2001:db8::1", 80, True, b"[2001:db8::1]"),
        ("http://b\u00fccher.example/", "http", "xn--bcher-kva.example", 80, False, b"xn--bcher-kva.example"),
        ("http://h.example./", "http", "h.example", 80, False, b"h.example"),
        ("http://h.example.:81/", "http", "h.example", 81, False, b"h.example:81"),
        ("http://my_host.example/", "http", "my_host.example", 80, False, b"my_host.example"),
        ("http://user:pw@h.example/", "http", "h.example", 80, False, b"h.example"),
    ],
)
def test_host_and_port(url: str, scheme: str, host: str, port: int, is_ip: bool, host_header: bytes) -> None:
    target = parse_url(url)
    assert (target.scheme, target.host, target.port, target.is_ip, target.host_header) == (
        scheme,
        host,
        port,
        is_ip,
        host_header,
    )


def test_log_url_drops_userinfo_and_fragment() -> None:
    target = parse_url("http://user:secret@h.example:81/p?q=1#frag")
    assert target.log_url == "http://h.example:81/p?q=1"
    assert "secret" not in target.log_url and "user" not in target.log_url
    assert parse_url("http://h.example/%zz%").log_url == "http://h.example/%zz%"


def test_cache_returns_equal_targets_and_params_are_not_cached() -> None:
    url = "http://cache.example/p?a=1&b=\u00e9"  # not a plain URL: the full split, cached
    first = parse_url(url)
    assert parse_url(url) is first
    with_params = parse_url(url, (("b", "2"),))
    assert with_params.request_target == b"/p?a=1&b=%C3%A9&b=2"
    assert parse_url(url).request_target == b"/p?a=1&b=%C3%A9"


def test_cache_is_bounded() -> None:
    from asynchttp_lowhaio import _writer

    for i in range(_writer._CACHE_MAX + 10):
        parse_url(f"http://bounded.example/{i}")
        parse_url(f"http://bounded.example/{i} x")  # the full split's results too
    assert len(_writer._cache) <= _writer._CACHE_MAX
    assert parse_url("http://bounded.example/0 x").request_target == b"/0%20x"


def test_a_plain_url_asked_for_again_is_the_same_target() -> None:
    url = "http://again.example:8080/p?a=1"
    assert parse_url(url) is parse_url(url)


def test_plain_urls_share_their_origins_split_and_the_origins_are_bounded() -> None:
    from asynchttp_lowhaio import _writer

    _writer._origins.clear()
    for i in range(_writer._ORIGINS_MAX + 10):
        assert parse_url(f"http://o{i}.example:81/p?n={i}").host_header == b"o%d.example:81" % i
    assert 0 < len(_writer._origins) <= _writer._ORIGINS_MAX
    for i in range(3):  # a bulk job: one origin, new paths
        parse_url(f"http://one.example/p?n={i}")
    assert "http://one.example" in _writer._origins


def _plain_corpus() -> list[str]:
    """URLs a bulk job feeds, and near misses of the plain form, from a fixed seed."""
    import random

    rng = random.Random(20261207)
    hosts = ["h.example", "H.Example", "h.example.", "127.0.0.1", "10.0.0.1", "a..b", "-x-.example", "my_host.example"]
    hosts += ["xn--bcher-kva.example", "1.2.3", "0x7f.1", "h-1.example", "a" * 64 + ".example", "h.example:"]
    ports = ["", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":99999", ":00080", ":1"]
    plain = "abcAZ09/%:@!$&'()*+,;=-._~?"
    alphabets = [plain, plain + '#[] \u00e9<>"|{}^`']
    corpus = []
    for _ in range(4000):
        scheme = rng.choice(["http", "https", "HTTP", "ftp", "http"])
        alphabet = rng.choice(alphabets)
        rest = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        if rng.random() < 0.5:
            rest = "/" + rest
        corpus.append(f"{scheme}://{rng.choice(hosts)}{rng.choice(ports)}{rest}")
    return corpus


def test_the_plain_url_path_gives_what_the_full_split_gives() -> None:
    """The shortcut for plain URLs (``_plain_target``) must be invisible: for every URL
    it takes, the full split gives an equal Target; where the full split raises, the
    shortcut declines and the full split names the error."""
    from asynchttp_lowhaio import _writer

    taken = declined = 0
    for url in _plain_corpus():
        fast = _writer._plain_target(url)
        try:
            full = _writer._parse_url(url, ())
        except HttpLocalError:
            assert fast is None, url
            with pytest.raises(HttpLocalError):
                parse_url(url)
            declined += 1
            continue
        if fast is None:
            declined += 1
        else:
            assert fast == full, url
            taken += 1
        assert parse_url(url) == full
    assert taken > 300 and declined > 300  # the corpus reaches both sides


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h.example/",
        "file:///etc/passwd",
        "h.example/path",
        "//h.example/path",
        "",
        "http://",
        "http:///path",
        "http://:80/",
        "http://h.example:abc/",
        "http://h.example:99999/",
        "http://h.example:0/",
        "http://[::1/",
        "http://[not-an-ip]/",
        "http://a..b/",
        "http://" + "a" * 64 + ".example/",
        "http://exa mple.com/",
        "http://%41.example/",
        "http://h.example/\ud800",
        "http://h.example/\r\nX-Injected: 1",
        "http://h.example/p?q=\n",
        "http://h.example/p\x00",
        "http://h.ex\tample/",
        "http://h.example/\x7f",
        "http://h.example\r\n/",
        "\x00http://h.example/",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(HttpLocalError) as info:
        parse_url(url)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("url", [b"http://h.example/", ["http://h.example/"], None, 42])
def test_url_must_be_str(url) -> None:
    with pytest.raises(HttpLocalError, match="must be str"):
        parse_url(url)


@pytest.mark.parametrize("params", [(("a",),), ((1, 2, 3),), 5])
def test_params_must_be_pairs(params) -> None:
    with pytest.raises(HttpLocalError):
        parse_url("http://h.example/", params)


# ----------------------------------------------------------------- build_head

TARGET = parse_url("http://h.example:8080/p?q=1")


def build_head(method, target, headers, http_version):
    return compose_head(method, target, headers, http_version, False)[0]


def test_head_bytes() -> None:
    head = build_head(b"GET", TARGET, ((b"Accept", b"*/*"), (b"X-A", b"  padded\t")), b"HTTP/1.1")
    assert head == b"GET /p?q=1 HTTP/1.1\r\nhost: h.example:8080\r\nAccept: */*\r\nX-A: padded\r\n\r\n"


def test_framing_header_comes_last() -> None:
    head, chunked, _ = compose_head(b"POST", TARGET, ((b"X-A", b"1"),), b"HTTP/1.0", True)
    assert chunked
    assert head == b"POST /p?q=1 HTTP/1.0\r\nhost: h.example:8080\r\nX-A: 1\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("name", [b"host", b"Host", b"HOST", b"hOsT", "Host"])
def test_caller_host_replaces_default(name) -> None:
    head = build_head(b"GET", TARGET, ((b"X-A", b"1"), (name, b"other.example")), b"HTTP/1.1")
    assert head.lower().count(b"\r\nhost:") == 1
    assert b": other.example\r\n" in head and b"h.example:8080" not in head


def test_str_and_buffer_headers_are_latin1() -> None:
    head = build_head(b"GET", TARGET, (("X-Name", "Jos\u00e9"), (bytearray(b"X-B"), memoryview(b"v\xff"))), b"HTTP/1.1")
    assert b"\r\nX-Name: Jos\xe9\r\n" in head and b"\r\nX-B: v\xff\r\n" in head


def test_tab_and_obs_text_allowed_in_values() -> None:
    head = build_head(b"GET", TARGET, ((b"X-A", b"a\tb \x80\xff"),), b"HTTP/1.1")
    assert b"\r\nX-A: a\tb \x80\xff\r\n" in head


@pytest.mark.parametrize(
    "method",
    [b"GET\r\n", b"G\nET", b"GE\x00T", b"GET /x", b"", b"G(T", "GET", None, bytearray(b"GET")],
)
def test_invalid_method(method) -> None:
    with pytest.raises(HttpLocalError):
        build_head(method, TARGET, (), b"HTTP/1.1")


@pytest.mark.parametrize(
    "headers",
    [
        ((b"X-A", b"a\r\nX-Injected: 1"),),
        ((b"X-A", b"a\rb"),),
        ((b"X-A", b"a\nb"),),
        ((b"X-A", b"a\x00b"),),
        ((b"X-A", b"a\x7fb"),),
        ((b"X-A", b"a\x1bb"),),
        ((b"X-A\r\nX-B", b"1"),),
        ((b"X-A\n", b"1"),),
        ((b"X\x00A", b"1"),),
        ((b"X A", b"1"),),
        ((b"X-A:", b"1"),),
        ((b"", b"1"),),
        ((b"X-\xe9", b"1"),),
        (("X-A", "\u20ac"),),
        (("X-\u20ac", "1"),),
        ((b"X-A", 5),),
        ((None, b"1"),),
        ((b"X-A",),),
        ((b"X-A", b"1", b"2"),),
        (b"X-A",),
        # A valid header first: the bad one later still fails the whole head.
        ((b"X-Good", b"1"), (b"X-Bad", b"\r\n")),
    ],
)
def test_invalid_headers(headers) -> None:
    with pytest.raises(HttpLocalError) as info:
        build_head(b"GET", TARGET, headers, b"HTTP/1.1")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("version", [b"HTTP/2", b"HTTP/1.1\r\nX: y", "HTTP/1.1", b"", None])
def test_invalid_http_version(version) -> None:
    with pytest.raises(HttpLocalError):
        build_head(b"GET", TARGET, (), version)


# ------------------------------------------------------------ request_framing


@pytest.mark.parametrize(
    "method, headers, has_body, framing",
    [
        (b"GET", (), False, None),
        (b"DELETE", (), False, None),
        (b"HEAD", (), False, None),
        (b"POST", (), False, (b"content-length", b"0")),
        (b"PUT", (), False, (b"content-length", b"0")),
        (b"PATCH", (), False, (b"content-length", b"0")),
        (b"POST", (), True, (b"transfer-encoding", b"chunked")),
        (b"GET", (), True, (b"transfer-encoding", b"chunked")),
        (b"POST", ((b"Content-Length", b"5"),), True, None),
        (b"POST", ((b"CONTENT-LENGTH", b"0"),), False, None),
        (b"PUT", ((b"x-a", b"1"), (b"Transfer-Encoding", b"chunked")), True, None),
        (b"PUT", (("content-length", "3"),), True, None),
    ],
)
def test_request_framing(method: bytes, headers, has_body: bool, framing) -> None:
    head, chunked, _ = compose_head(method, TARGET, headers, b"HTTP/1.1", has_body)
    fields = [b"host: h.example:8080"]
    fields += [
        (n if type(n) is bytes else n.encode()) + b": " + (v if type(v) is bytes else v.encode()) for n, v in headers
    ]
    if framing is not None:
        fields.append(framing[0] + b": " + framing[1])
    assert head == method + b" /p?q=1 HTTP/1.1\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    assert chunked == (framing == (b"transfer-encoding", b"chunked"))


def test_body_methods() -> None:
    assert BODY_METHODS == {b"POST", b"PUT", b"PATCH"}


@pytest.mark.parametrize("headers", [((b"X-A",),), (5,), ((1, b"x"),)])
def test_request_framing_rejects_bad_pairs(headers) -> None:
    with pytest.raises(HttpLocalError):
        compose_head(b"POST", TARGET, headers, b"HTTP/1.1", True)


# --------------------------------------------------------------- encode_chunk


@pytest.mark.parametrize(
    "data, encoded",
    [
        (b"hello", b"5\r\nhello\r\n"),
        (b"x" * 255, b"ff\r\n" + b"x" * 255 + b"\r\n"),
        (b"\r\n0\r\n\r\n", b"7\r\n\r\n0\r\n\r\n\r\n"),
        (bytearray(b"ab"), b"2\r\nab\r\n"),
        (memoryview(b"abc"), b"3\r\nabc\r\n"),
        # An empty chunk would be the last-chunk: it must encode to nothing.
        (b"", b""),
    ],
)
def test_encode_chunk(data, encoded: bytes) -> None:
    assert encode_chunk(data) == encoded


def test_chunks_round_trip_through_the_parser() -> None:
    pieces = [b"a", b"", b"0\r\n\r\n", bytes(range(256)) * 40, b"end"]
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    wire += b"".join(encode_chunk(piece) for piece in pieces) + LAST_CHUNK
    assert LAST_CHUNK == b"0\r\n\r\n"
    events = ResponseParser(b"POST").feed(wire)
    assert b"".join(event for event in events if type(event) is bytes) == b"".join(pieces)
    assert events[-1].keep_alive


def test_ipv6_literal_is_canonicalised_so_pooled_peers_match() -> None:
    target = parse_url("http://[0:0:0:0:0:0:0:1]:8080/x")
    assert target.host == "::1"
    assert target.host_header == b"[::1]:8080"
    assert target.is_ip


def test_brackets_around_a_name_are_refused() -> None:
    with pytest.raises(HttpLocalError):
        parse_url("http://[not-an-ip]/")


@pytest.mark.parametrize(
    "headers, expected",
    [
        ((), False),
        (((b"connection", b"close"),), True),
        (((b"Connection", b" Keep-Alive, CLOSE "),), True),
        ((("connection", "close"),), True),
        (((b"connection", b"closed"),), False),
        (((b"x-connection", b"close"),), False),
        (((b"connection", b"keep-alive"), (b"connection", b"close")), True),
    ],
)
def test_asks_to_close(headers, expected: bool) -> None:
    assert compose_head(b"GET", TARGET, headers, b"HTTP/1.1", False)[2] is expected


# ------------------------------------------------------------ secrets in messages
@pytest.mark.parametrize(
    "url",
    [
        "http://alice:s3cret@127.0.0.1:0/",  # port 0
        "ftp://alice:s3cret@example.com/",  # scheme
        "http://alice:s3cret@[not-ipv6]/",  # bracketed non-IPv6
        "http://alice:s3cret@/",  # no host
        "http://alice:s3cret@exa\x01mple.com/",  # control character
    ],
)
def test_url_errors_never_quote_the_password(url: str) -> None:
    with pytest.raises(HttpLocalError) as caught:
        parse_url(url)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("value", ["Bearer s3cret\x01token", "Bearer s3cret\x7f", "s3cret\r\nX-Injected: 1"])
def test_header_value_errors_never_quote_the_value(value: str) -> None:
    """Header values carry credentials: a refused one is named by header and offset."""
    target = parse_url("http://example.com/")
    with pytest.raises(HttpLocalError) as caught:
        build_head(b"GET", target, [(b"authorization", value.encode("latin-1"))], b"HTTP/1.1")
    message = str(caught.value)
    assert "s3cret" not in message
    assert "authorization" in message and "at offset" in message


def test_non_latin1_header_value_error_never_quotes_the_value() -> None:
    target = parse_url("http://example.com/")
    with pytest.raises(HttpLocalError) as caught:
        build_head(b"GET", target, [("authorization", "Bearer s3cr\u20acet")], b"HTTP/1.1")
    assert "s3cr" not in str(caught.value)
