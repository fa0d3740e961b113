"""Run Debian's nginx as the benchmark's server, on a free loopback port.

nginx is used rather than a Python server so that the server is never the
bottleneck and every client meets the same fast, standards-following peer.
The config, the served files, the pid file and the error log all live in a
temporary directory that is removed when the server stops.  With ``tls=True``
a second listener serves the same files over HTTPS with a certificate for
127.0.0.1 made at start time by trustme; its CA is ``ca_path``, for the
clients to verify against.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType

NGINX = "/usr/sbin/nginx"
INSTALL_HINT = "apt-get install -y nginx-light"

SMALL_NAME = "small.bin"
SMALL_SIZE = 100
BIG_NAME = "big.bin"
BIG_SIZE = 1024 * 1024

_CONFIG = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user_line}
events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
{tls_server}}}
"""


_TLS_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        root {tmp}/www;
    }}
"""


def free_port() -> int:
    """A loopback port nobody listens on now (nginx binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NginxMissing(RuntimeError):
    pass


class Nginx:
    """Context manager: nginx running on 127.0.0.1:port until exit, whatever happens."""

    def __init__(self, cpu: int | None = None, startup_timeout: float = 10.0, tls: bool = False) -> None:
        self.cpu = cpu
        self.startup_timeout = startup_timeout
        self.tls = tls
        self.port = 0
        self.tls_port = 0
        self.ca_path = ""
        self.tmp = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""

    @property
    def small_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{SMALL_NAME}"

    @property
    def big_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{BIG_NAME}"

    @property
    def small_tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}/{SMALL_NAME}"

    @property
    def big_tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}/{BIG_NAME}"

    def _make_certificate(self) -> None:
        """A fresh CA and a certificate for 127.0.0.1, valid for this run only."""
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(os.path.join(self.tmp, "server.key"))
        cert.cert_chain_pems[0].write_to_path(os.path.join(self.tmp, "server.pem"))
        for pem in cert.cert_chain_pems[1:]:
            with open(os.path.join(self.tmp, "server.pem"), "ab") as f:
                f.write(pem.bytes())
        self.ca_path = os.path.join(self.tmp, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        # nginx's worker (an unprivileged user when run as root) reads them.
        for name in ("server.key", "server.pem", "ca.pem"):
            os.chmod(os.path.join(self.tmp, name), 0o644)

    def __enter__(self) -> "Nginx":
        if not os.access(NGINX, os.X_OK):
            raise NginxMissing(f"{NGINX} not found; install it with: {INSTALL_HINT}")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="asynchttp-bench-nginx-")
        # When run as root, nginx's worker drops to an unprivileged user that
        # must still read the served files, and mkdtemp makes the dir 0700.
        os.chmod(self.tmp, 0o755)
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        os.chmod(www, 0o755)
        # Bodies are random so nothing along the way (compression, caching)
        # could make them cheaper than they look.
        for name, size in ((SMALL_NAME, SMALL_SIZE), (BIG_NAME, BIG_SIZE)):
            path = os.path.join(www, name)
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            os.chmod(path, 0o644)

        self.version = (
            subprocess.run([NGINX, "-v"], capture_output=True, check=False)
            .stderr.decode(errors="replace")
            .strip()
            .split("/")[-1]
        )
        self.port = free_port()
        tls_server = ""
        if self.tls:
            self._make_certificate()
            self.tls_port = free_port()
            tls_server = _TLS_SERVER.format(port=self.tls_port, tmp=self.tmp)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write(
                _CONFIG.format(
                    tmp=self.tmp,
                    port=self.port,
                    tls_server=tls_server,
                    user_line="user nobody nogroup;" if os.geteuid() == 0 else "",
                )
            )

        cmd = [NGINX, "-p", self.tmp, "-e", os.path.join(self.tmp, "error.log"), "-c", conf]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        # Own session: a Ctrl-C in the terminal reaches us, and we stop nginx
        # in order, rather than nginx dying half-way through a client's run.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        request = f"GET /{SMALL_NAME} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {err}{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                    sock.sendall(request)
                    data = b""
                    while chunk := sock.recv(65536):
                        data += chunk
                if data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n" + data[-SMALL_SIZE:]):
                    return
                raise RuntimeError(f"nginx answered unexpectedly: {data[:200]!r}")
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not answer on port {self.port}: {self.error_log()}") from exc
                time.sleep(0.05)

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.tmp, "error.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # SIGQUIT: graceful stop of master and worker; then insist.
            for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
                try:
                    # The group holds only the master and its worker (own
                    # session), so a last SIGKILL leaves no orphaned worker.
                    if sig == signal.SIGKILL:
                        os.killpg(proc.pid, sig)
                    else:
                        proc.send_signal(sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""
