"""Small Google-style and Launchpad-style APIs on the shared ``TestServer``, for
tests/realworld/.

``GoogleLikeApi``: real client libraries (google-api-python-client, google-auth-httplib2,
oauth2client, google-apitools) are driven against it as they would be against Google: a discovery
document, JSON methods with query and body, a multipart/mixed batch endpoint, resumable
uploads (308 "Resume Incomplete", status queries, a connection dropped mid-chunk), a
method that answers 500 and 429 before succeeding, an OAuth2 token endpoint issuing
bearer tokens, and a resource that needs a valid one. State lives on the server's loop
thread; tests set the fault plans (plain attributes) before they make a request.

``LaunchpadLikeApi``: a lazr.restful-style service (WADL at the root, JSON entries with
ETags answered 304 to a matching If-None-Match, PATCH guarded by If-Match and answered
209, an old URL that redirects, a URL that redirects with the status asked, a
resource behind Basic authentication) that checks the OAuth PLAINTEXT signature
lazr.restfulclient puts on every request, and an
OAuth 1.0a HMAC-SHA1 resource for python-oauth2, verified with oauthlib.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import hmac
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from .http_server import Request, Response, TestServer, pattern

__all__ = ["BLOB_SIZE", "DROP_AFTER", "SERVICE_PATH", "GoogleLikeApi", "LaunchpadLikeApi", "UploadSession"]

SERVICE_PATH = "things/v1/"
DROP_AFTER = 10_000  # bytes of a chunk the server keeps before it drops the connection
BLOB_SIZE = 200_000  # bytes of /media/blob
KNOWN_IDS = tuple(f"t{n}" for n in range(1, 6))  # routes are exact paths: ids are fixed

JsonHandler = Callable[[Request], Awaitable[Response]]


def _json(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data).encode("utf-8")
    return Response(
        status=status, body=body, headers=[("Content-Type", "application/json; charset=UTF-8")] + (headers or [])
    )


def _error(status: int, message: str) -> Response:
    return _json({"error": {"code": status, "message": message}}, status)


@dataclass
class UploadSession:
    """One resumable upload: the metadata it started with and the bytes received."""

    upload_id: int
    metadata: dict[str, Any]
    total: int | None
    tag: str | None
    data: bytearray = field(default_factory=bytearray)
    status_queries: int = 0
    drops: int = 0
    chunk_starts: list[int] = field(default_factory=list)

    def store(self, start: int, piece: bytes) -> None:
        """Keep ``piece`` at ``start``; a resent overlap replaces what it covers."""
        if start > len(self.data):
            raise ValueError(f"chunk at {start} leaves a hole after {len(self.data)}")
        self.data[start : start + len(piece)] = piece

    def range_header(self) -> list[tuple[str, str]]:
        return [("Range", f"bytes=0-{len(self.data) - 1}")] if self.data else []


class GoogleLikeApi:
    """Installs the API's routes on ``server`` and keeps their state."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.things: dict[str, dict[str, Any]] = {
            "t1": {"id": "t1", "name": "first", "size": 1},
            "t2": {"id": "t2", "name": "second", "size": 2},
        }
        self.uploads: dict[int, UploadSession] = {}
        self._upload_ids = itertools.count(1)
        self._thing_ids = itertools.count(3)
        # Fault plans the tests set: statuses a flaky key answers before 200; chunk
        # offsets at which the upload keeps only part of a chunk (308 with a short
        # Range) or drops the connection until the client asks for the status.
        self.flaky_plan: dict[str, list[int]] = {}
        self.short_ack_at: dict[int, int] = {}
        self.drop_at: set[int] = set()
        # OAuth2: refresh token -> client id; access tokens the resource accepts.
        self.refresh_tokens: dict[str, str] = {"refresh-1": "client-1"}
        self.valid_tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self._token_ids = itertools.count(1)
        self.batch_requests: list[list[str]] = []
        self._json_routes: dict[str, JsonHandler] = {}
        self._install()

    # ---------------------------------------------------------------- urls

    @property
    def root_url(self) -> str:
        return self.server.url("/")

    @property
    def discovery_url_template(self) -> str:
        return self.server.url("/discovery/v1/apis/{api}/{apiVersion}/rest")

    def discovery_document(self) -> dict[str, Any]:
        """The discovery document of API ``things`` v1 (rootUrl: this server)."""
        thing = {"$ref": "Thing"}
        return {
            "kind": "discovery#restDescription",
            "discoveryVersion": "v1",
            "id": "things:v1",
            "name": "things",
            "version": "v1",
            "protocol": "rest",
            "rootUrl": self.root_url,
            "servicePath": SERVICE_PATH,
            "batchPath": "batch/things/v1",
            "parameters": {
                "alt": {"type": "string", "default": "json", "location": "query"},
                "key": {"type": "string", "location": "query"},
            },
            "schemas": {
                "Thing": {
                    "id": "Thing",
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "tag": {"type": "string"},
                        "sha256": {"type": "string"},
                    },
                }
            },
            "resources": {
                "things": {
                    "methods": {
                        "get": {
                            "id": "things.things.get",
                            "path": "things/{thingId}",
                            "httpMethod": "GET",
                            "parameters": {
                                "thingId": {"type": "string", "required": True, "location": "path"},
                                "view": {"type": "string", "location": "query"},
                            },
                            "parameterOrder": ["thingId"],
                            "response": thing,
                        },
                        "insert": {
                            "id": "things.things.insert",
                            "path": "things",
                            "httpMethod": "POST",
                            "parameters": {"tag": {"type": "string", "location": "query"}},
                            "request": thing,
                            "response": thing,
                            "supportsMediaUpload": True,
                            "mediaUpload": {
                                "accept": ["*/*"],
                                "maxSize": "10MB",
                                "protocols": {
                                    "simple": {"multipart": True, "path": "/upload/things/v1/things"},
                                    "resumable": {"multipart": True, "path": "/resumable/upload/things/v1/things"},
                                },
                            },
                        },
                        "flaky": {
                            "id": "things.things.flaky",
                            "path": "flaky",
                            "httpMethod": "GET",
                            "parameters": {"plan": {"type": "string", "required": True, "location": "query"}},
                            "parameterOrder": ["plan"],
                            "response": thing,
                        },
                        "secure": {
                            "id": "things.things.secure",
                            "path": "secure",
                            "httpMethod": "POST",
                            "request": thing,
                            "response": thing,
                        },
                    }
                }
            },
        }

    # ---------------------------------------------------------------- routes

    def _install(self) -> None:
        base = "/" + SERVICE_PATH
        self._json_routes[base + "things"] = self._insert
        for thing_id in KNOWN_IDS:
            self._json_routes[base + "things/" + thing_id] = self._get
        self._json_routes[base + "flaky"] = self._flaky
        self._json_routes[base + "secure"] = self._secure
        for path, handler in self._json_routes.items():
            self.server.route(path, handler)
        self.server.route("/discovery/v1/apis/things/v1/rest", self._discovery)
        self.server.route("/batch/things/v1", self._batch)
        self.server.route("/upload/" + SERVICE_PATH + "things", self._start_upload)
        self.server.route("/upload-session", self._upload_chunk, stream_body=True)
        self.server.route("/token", self._token)
        self.server.route("/token-dropped", self._dropped)
        self.server.route("/media/blob", self._blob)

    async def _discovery(self, request: Request) -> Response:
        return _json(self.discovery_document())

    async def _get(self, request: Request) -> Response:
        thing = self.things.get(request.path.rsplit("/", 1)[1])
        if thing is None:
            return _error(404, "no such thing")
        if request.args.get("view") == "name":
            return _json({"id": thing["id"], "name": thing["name"]})
        return _json(thing)

    async def _insert(self, request: Request) -> Response:
        if request.method != "POST":
            return _error(405, "POST only")
        try:
            thing = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "body is not JSON")
        thing["id"] = f"t{next(self._thing_ids)}"
        if "tag" in request.args:
            thing["tag"] = request.args["tag"]
        self.things[thing["id"]] = thing
        return _json(thing)

    async def _flaky(self, request: Request) -> Response:
        plan = self.flaky_plan.get(request.args.get("plan", ""), [])
        if plan:
            status = plan.pop(0)
            return _error(status, "try again")
        return _json({"id": "flaky", "name": request.args.get("plan", "")})

    async def _secure(self, request: Request) -> Response:
        auth = request.header("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token not in self.valid_tokens:
            return Response(
                status=401,
                body=b'{"error": "invalid_token"}',
                headers=[("Content-Type", "application/json"), ("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
        try:
            thing = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "body is not JSON")
        thing["tag"] = token
        return _json(thing)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
        self.token_requests.append(form)
        if form.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type"}, 400)
        if self.refresh_tokens.get(form.get("refresh_token", "")) != form.get("client_id"):
            return _json({"error": "invalid_grant"}, 400)
        token = f"access-{next(self._token_ids)}"
        self.valid_tokens.add(token)
        return _json({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _blob(self, request: Request) -> Response:
        """``pattern(BLOB_SIZE)``, whole or the one range asked (bytes=a-b)."""
        unit, _, span = (request.header("range") or "").partition("=")
        if unit != "bytes" or not span:
            return Response(status=200, body=pattern(BLOB_SIZE), headers=[("Content-Type", "application/octet-stream")])
        first, _, last = span.partition("-")
        start = int(first)
        end = min(int(last) if last else BLOB_SIZE - 1, BLOB_SIZE - 1)
        if start >= BLOB_SIZE:
            return Response(status=416, headers=[("Content-Range", f"bytes */{BLOB_SIZE}")])
        return Response(
            status=206,
            body=pattern(end - start + 1, start),
            headers=[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", f"bytes {start}-{end}/{BLOB_SIZE}"),
            ],
        )

    async def _dropped(self, request: Request) -> Response:
        raise ConnectionResetError("closed without an answer on purpose")

    # ---------------------------------------------------------------- batch

    async def _batch(self, request: Request) -> Response:
        ctype = request.header("content-type") or ""
        if not ctype.startswith("multipart/mixed"):
            return _error(400, "batch needs multipart/mixed")
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        parts: list[tuple[str, bytes]] = []
        seen: list[str] = []
        for part in message.get_payload():
            content_id = part["Content-ID"] or ""
            inner = await self._dispatch_inner(part.get_payload(decode=False))
            seen.append(inner[0])
            parts.append(("<response-" + content_id.strip("<>") + ">", inner[1]))
        self.batch_requests.append(seen)
        boundary = "batch_boundary_realworld"
        out = bytearray()
        for content_id, payload in parts:
            out += (f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n").encode(
                "latin-1"
            )
            out += payload + b"\r\n"
        out += f"--{boundary}--\r\n".encode("latin-1")
        return Response(
            status=200, body=bytes(out), headers=[("Content-Type", f"multipart/mixed; boundary={boundary}")]
        )

    async def _dispatch_inner(self, payload: str) -> tuple[str, bytes]:
        """Run one request of a batch through the same handlers; its HTTP answer."""
        normalized = payload.replace("\r\n", "\n")
        head, _, body = normalized.partition("\n\n")
        lines = head.split("\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
        inner = Request(
            method=method,
            target=target,
            version=version,
            headers=headers,
            body=body.encode("utf-8"),  # type: ignore[arg-type]
            conn_id=0,
            conn_request=0,
        )
        handler = self._json_routes.get(inner.path)
        response = await handler(inner) if handler else _error(404, "no route")
        assert isinstance(response.body, bytes)
        head_lines = [f"HTTP/1.1 {response.status} X"] + [f"{n}: {v}" for n, v in response.headers]
        head_lines.append(f"Content-Length: {len(response.body)}")
        return (f"{method} {inner.path}", ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + response.body)

    # ---------------------------------------------------------------- uploads

    async def _start_upload(self, request: Request) -> Response:
        if request.args.get("uploadType") != "resumable":
            return _error(400, "only resumable uploads here")
        total = request.header("x-upload-content-length")
        session = UploadSession(
            upload_id=next(self._upload_ids),
            metadata=json.loads(request.body or b"{}"),
            total=int(total) if total else None,
            tag=request.args.get("tag"),
        )
        self.uploads[session.upload_id] = session
        location = self.server.url(f"/upload-session?upload_id={session.upload_id}")
        return Response(status=200, body=b"", headers=[("Location", location)])

    async def _upload_chunk(self, request: Request) -> Response:
        session = self.uploads.get(int(request.args.get("upload_id", "0")))
        if session is None or request.method != "PUT":
            return _error(404, "no such upload session")
        unit, _, spec = (request.header("content-range") or "").partition(" ")
        span, _, total = spec.partition("/")
        if unit != "bytes" or not total:
            return _error(400, "bad Content-Range")
        if span == "*":
            session.status_queries += 1
            self.drop_at.clear()  # the client noticed the drop: stop dropping
            return self._upload_state(session, int(total) if total != "*" else None)
        start = int(span.split("-")[0])
        session.chunk_starts.append(start)
        if start in self.drop_at:
            await self._receive_then_drop(session, request, start)
        data = bytearray()
        async for piece in request.iter_body():
            data += piece
        keep = self.short_ack_at.pop(start, len(data))
        session.store(start, bytes(data[:keep]))
        return self._upload_state(session, int(total) if total != "*" else None)

    async def _receive_then_drop(self, session: UploadSession, request: Request, start: int) -> None:
        got = bytearray()
        async for piece in request.iter_body():
            got += piece
            if len(got) >= DROP_AFTER:
                break
        session.store(start, bytes(got[:DROP_AFTER]))
        session.drops += 1
        raise ConnectionResetError("dropped mid-chunk on purpose")

    def _upload_state(self, session: UploadSession, total: int | None) -> Response:
        if total is not None and len(session.data) >= total:
            thing = dict(session.metadata)
            thing.update(
                id=f"t{next(self._thing_ids)}", size=len(session.data), sha256=hashlib.sha256(session.data).hexdigest()
            )
            if session.tag is not None:
                thing["tag"] = session.tag
            self.things[thing["id"]] = thing
            return _json(thing)
        return Response(status=308, body=b"", reason="Resume Incomplete", headers=session.range_header())


# ------------------------------------------------------------------ Launchpad-like

API_ROOT = "/api/1.0/"
WADL_TYPE = "application/vnd.sun.wadl+xml"

_WADL = """<?xml version="1.0"?>
<application xmlns="http://research.sun.com/wadl/2006/10">
  <resources base="{root}">
    <resource path="" type="#service-root"/>
  </resources>
  <resource_type id="service-root">
    <method name="GET" id="service-root-get">
      <response><representation href="#service-root-json"/></response>
    </method>
  </resource_type>
  <representation id="service-root-json" mediaType="application/json">
    <param style="plain" name="motto" path="$['motto']"/>
    <param style="plain" name="widget_link" path="$['widget_link']">
      <link resource_type="#widget"/>
    </param>
  </representation>
  <resource_type id="widget">
    <method name="GET" id="widget-get">
      <response><representation href="#widget-full"/></response>
    </method>
    <method name="PATCH" id="widget-patch">
      <request><representation href="#widget-diff"/></request>
    </method>
  </resource_type>
  <representation id="widget-full" mediaType="application/json">
    <param style="plain" name="self_link" path="$['self_link']"><link/></param>
    <param style="plain" name="resource_type_link" path="$['resource_type_link']"><link/></param>
    <param style="plain" name="http_etag" path="$['http_etag']"/>
    <param style="plain" name="name" path="$['name']"/>
    <param style="plain" name="size" path="$['size']"/>
  </representation>
  <representation id="widget-diff" mediaType="application/json">
    <param style="plain" name="name" path="$['name']"/>
    <param style="plain" name="size" path="$['size']"/>
  </representation>
</application>
"""


def _oauth_params(header: str) -> dict[str, str]:
    from urllib.parse import unquote

    scheme, _, rest = header.partition(" ")
    if scheme != "OAuth":
        return {}
    params = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        params[name] = unquote(value.strip('"'))
    return params


class LaunchpadLikeApi:
    """A lazr.restful-style service on ``server``; ``representations`` may be edited
    by tests (a new ``motto`` gets a new ETag)."""

    def __init__(self, server: TestServer, consumer: tuple[str, str], token: tuple[str, str]) -> None:
        self.server = server
        self.consumer = consumer
        self.token = token
        self.motto = "hello"
        self.widget = {"name": "gizmo", "size": 3}
        self.unsigned: list[str] = []  # "METHOD path" of requests without a valid signature
        self.not_modified = 0
        self.patches: list[tuple[str | None, bytes]] = []  # (If-Match, body) of each PATCH
        server.route(API_ROOT, self._root)
        server.route(API_ROOT + "widget", self._widget)
        server.route(API_ROOT + "old-widget", self._old_widget)
        server.route(API_ROOT + "moved", self._moved)
        server.route(API_ROOT + "guarded", self._guarded)
        server.route("/oauth1/echo", self._hmac_echo)

    @property
    def root_url(self) -> str:
        return self.server.url(API_ROOT)

    def signature_ok(self, authorization: str) -> bool:
        """Whether one Authorization value is lazr's PLAINTEXT signature: consumer
        secret & token secret."""
        params = _oauth_params(authorization)
        return (
            params.get("oauth_signature_method") == "PLAINTEXT"
            and params.get("oauth_consumer_key") == self.consumer[0]
            and params.get("oauth_token") == self.token[0]
            and params.get("oauth_signature") == f"{self.consumer[1]}&{self.token[1]}"
        )

    def _signed(self, request: Request) -> bool:
        """Whether one of the request's Authorization fields is a valid signature
        (httplib2 may send a second field, its own Basic credentials)."""
        ok = any(self.signature_ok(value) for value in request.header_all("authorization"))
        if not ok:
            self.unsigned.append(f"{request.method} {request.path}")
        return ok

    def _cached(self, request: Request, body: bytes, ctype: str, etag: str | None = None) -> Response:
        etag = etag or f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        headers = [("ETag", etag), ("Cache-Control", "max-age=0"), ("Vary", "Accept")]
        if etag in (request.header("if-none-match") or ""):
            self.not_modified += 1
            return Response(status=304, headers=headers)
        return Response(status=200, body=body, headers=[("Content-Type", ctype)] + headers)

    async def _root(self, request: Request) -> Response:
        if not self._signed(request):
            return Response(status=401, body=b"unsigned")
        if WADL_TYPE in (request.header("accept") or ""):
            return self._cached(request, _WADL.format(root=self.root_url).encode(), WADL_TYPE)
        data = {
            "motto": self.motto,
            "widget_link": self.root_url + "widget",
            "resource_type_link": self.root_url + "#service-root",
        }
        return self._cached(request, json.dumps(data).encode(), "application/json")

    def widget_representation(self) -> dict[str, Any]:
        """The widget as lazr.restful sends it, ``http_etag`` (also its ETag) included."""
        data: dict[str, Any] = dict(
            self.widget, self_link=self.root_url + "widget", resource_type_link=self.root_url + "#widget"
        )
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        data["http_etag"] = f'"{digest[:16]}"'
        return data

    async def _widget(self, request: Request) -> Response:
        if not self._signed(request):
            return Response(status=401, body=b"unsigned")
        current = self.widget_representation()
        if request.method == "PATCH":
            return self._patch_widget(request, current["http_etag"])
        return self._cached(request, json.dumps(current).encode(), "application/json", current["http_etag"])

    def _patch_widget(self, request: Request, etag: str) -> Response:
        """lazr.restful's write: If-Match must hold the current ETag; 209 Content
        Returned with the new representation."""
        self.patches.append((request.header("if-match"), request.body))
        if request.header("if-match") != etag:
            return Response(status=412, body=b"stale")
        changes = json.loads(request.body)
        self.widget.update({k: v for k, v in changes.items() if k in ("name", "size")})
        return Response(
            status=209,
            reason="Content Returned",
            body=json.dumps(self.widget_representation()).encode(),
            headers=[("Content-Type", "application/json")],
        )

    async def _old_widget(self, request: Request) -> Response:
        if not self._signed(request):
            return Response(status=401, body=b"unsigned")
        return Response(status=301, headers=[("Location", self.root_url + "widget")])

    async def _moved(self, request: Request) -> Response:
        """?status=301|302|303|307|308 to=widget|guarded: that redirect, signed."""
        if not self._signed(request):
            return Response(status=401, body=b"unsigned")
        status = int(request.args.get("status", "302"))
        target = request.args.get("to", "widget")
        if status not in (301, 302, 303, 307, 308) or target not in ("widget", "guarded"):
            return Response(status=400, body=b"bad redirect asked")
        return Response(status=status, headers=[("Location", self.root_url + target)])

    async def _guarded(self, request: Request) -> Response:
        """Basic u:p in front of the signed service: 401 with a Basic challenge
        until the credentials come. The signature is checked (recorded in
        ``unsigned``) but a missing one is not refused here, so a client that drops it
        on the retry shows in the record rather than as a second 401."""
        self._signed(request)
        if "Basic dTpw" not in request.header_all("authorization"):
            return Response(status=401, body=b"who?", headers=[("WWW-Authenticate", 'Basic realm="launchpad-like"')])
        return _json({"guarded": True})

    async def _hmac_echo(self, request: Request) -> Response:
        """OAuth 1.0a HMAC-SHA1, checked by oauthlib: 200 with the signed request's
        method, query and form, or 401."""
        from oauthlib.oauth1.rfc5849 import signature

        auth = request.header("authorization") or ""
        form = (
            request.body.decode("latin-1")
            if (request.header("content-type") or "").startswith("application/x-www-form-urlencoded")
            else ""
        )
        # python-oauth2 puts the oauth_ parameters of a GET in the query and of a form
        # POST in the body; others in the Authorization header
        params = _oauth_params(auth) or {k: v for k, v in request.args_list + parse_qsl(form) if k.startswith("oauth_")}
        uri = self.server.url(request.target)
        collected = signature.collect_parameters(
            uri_query=request.query,
            body=form,
            headers={"Authorization": auth} if auth.startswith("OAuth") else {},
            exclude_oauth_signature=True,
        )
        base = signature.signature_base_string(
            request.method, signature.base_string_uri(uri), signature.normalize_parameters(collected)
        )
        key = f"{quote(self.consumer[1], safe='~')}&{quote(self.token[1], safe='~')}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        ok = (
            params.get("oauth_signature_method") == "HMAC-SHA1"
            and params.get("oauth_consumer_key") == self.consumer[0]
            and params.get("oauth_token") == self.token[0]
            and params.get("oauth_signature") == expected
        )
        if not ok:
            self.unsigned.append(f"{request.method} {request.path}")
            return Response(status=401, body=b"bad signature")
        return _json({"method": request.method, "query": request.args, "form": form})
