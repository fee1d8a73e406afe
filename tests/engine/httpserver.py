"""A threaded HTTP file server for tests: generated content and the misbehaviours downloads meet.

Usage::

    with FileServer() as srv:
        srv.add("/f.bin", size=8 << 20, seed=3, drop_after=100_000)
        fetch(srv.url("/f.bin"), tmp_path)
        assert srv.requests_for("/f.bin")[1].headers["range"] == "bytes=100000-"

Content is either static ``content`` bytes or ``pattern_bytes(size, seed)``,
generated 1 MiB at a time so even a 1 GiB resource costs no memory. Run
``python -m tests.engine.httpserver --size N`` to serve one generated file
from a separate process (benchmarks).
"""

import argparse
import base64
import functools
import hashlib
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

__all__ = [
    "FileServer",
    "RecordedRequest",
    "Resource",
    "md5_hex",
    "pattern_bytes",
    "pattern_md5",
    "pattern_slices",
]

BLOCK_SIZE = 1 << 20
AUTO = "auto"  # Resource.etag default: derive a strong ETag from size and seed
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@functools.lru_cache(maxsize=8)
def _base_block(seed):
    return random.Random(seed).randbytes(BLOCK_SIZE)


@functools.lru_cache(maxsize=4)
def _block(index, seed):
    # Stamp the block number in front so that no two blocks are equal: an
    # off-by-a-block resume bug changes the MD5.
    return index.to_bytes(8, "big") + _base_block(seed)[8:]


def pattern_slices(size, seed=0, start=0, end=None):
    """Bytes ``start:end`` of the ``size``-byte pattern for ``seed``, <= 1 MiB per piece."""
    end = size if end is None else min(end, size)
    pos = start
    while pos < end:
        index, offset = divmod(pos, BLOCK_SIZE)
        piece = memoryview(_block(index, seed))[offset : min(BLOCK_SIZE, offset + end - pos)]
        yield piece
        pos += len(piece)


def pattern_bytes(size, seed=0):
    """The deterministic pseudo-random content of ``size`` bytes for ``seed``."""
    return b"".join(pattern_slices(size, seed))


@functools.lru_cache(maxsize=64)
def pattern_md5(size, seed=0):
    """MD5 (lowercase hex) of ``pattern_bytes(size, seed)``, computed without holding it."""
    digest = hashlib.md5(usedforsecurity=False)
    for piece in pattern_slices(size, seed):
        digest.update(piece)
    return digest.hexdigest()


def md5_hex(data):
    """MD5 (lowercase hex) of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Resource:
    """What the server answers on one path. Every misbehaviour is off by default.

    statuses: status of request n (0-based; the last one repeats). A 2xx
        serves the body; anything else gets a tiny body plus ``status_headers``
        (and ``Location: redirect_to`` when set).
    drop_after: close the connection after this many body bytes, for the
        first ``drop_times`` bodies served (-1: always); cleanly (FIN) unless
        ``drop_reset``, which aborts with a TCP RST.
    lie_length: declare this many bytes more than exist (in Content-Length
        and Content-Range), send what exists, then close.
    stall_after: after this many body bytes, wait until ``release`` is set
        (FileServer.close() sets it), for the first ``stall_times`` bodies
        served (-1, the default: always).
    throttle: bytes per second.
    """

    content: bytes | None = None
    size: int = 0
    seed: int = 0
    support_range: bool = True
    etag: str | None = AUTO
    last_modified: str | None = None
    content_disposition: str | None = None
    content_type: str = "application/octet-stream"
    headers: dict = field(default_factory=dict)
    statuses: Sequence[int] = ()
    status_headers: dict = field(default_factory=dict)
    redirect_to: str | None = None
    drop_after: int | None = None
    drop_times: int = 1
    drop_reset: bool = False
    lie_length: int = 0
    chunked: bool = False
    stall_after: int | None = None
    stall_times: int = -1
    release: threading.Event = field(default_factory=threading.Event)
    throttle: int | None = None
    auth: tuple[str, str] | None = None
    hits: int = 0
    bodies: int = 0

    def __post_init__(self):
        if self.content is not None:
            self.size = len(self.content)
        if self.etag == AUTO:
            token = md5_hex(self.content)[:16] if self.content is not None else self.seed
            self.etag = f'"{token}-{self.size}"'

    @property
    def md5(self):
        """MD5 of the real content."""
        if self.content is not None:
            return md5_hex(self.content)
        return pattern_md5(self.size, self.seed)

    @property
    def data(self):
        """The real content as bytes (generated on demand)."""
        return self.content if self.content is not None else pattern_bytes(self.size, self.seed)

    def slices(self, start, end):
        """The real content ``start:end``, in pieces of at most 1 MiB."""
        end = min(end, self.size)
        if self.content is None:
            yield from pattern_slices(self.size, self.seed, start, end)
            return
        view = memoryview(self.content)
        for pos in range(start, end, BLOCK_SIZE):
            yield view[pos : min(pos + BLOCK_SIZE, end)]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``headers`` keys are lowercase."""

    method: str
    path: str
    headers: dict


def _resource_path(request_path):
    return unquote(urlsplit(request_path).path)


class _Dropped(Exception):
    """The handler dropped the connection on purpose."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked encoding

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve(send_body=True)

    def do_HEAD(self):
        self._serve(send_body=False)

    def _serve(self, send_body):
        owner = self.server.owner
        path = _resource_path(self.path)
        owner._record(self.command, self.path, self.headers)
        owner._track(path, +1)
        try:
            self._answer(owner.resources.get(path), send_body)
        except _Dropped:
            self.close_connection = True
        finally:
            owner._track(path, -1)

    def _answer(self, resource, send_body):
        if resource is None:
            return self._small(404)
        if resource.auth and not self._authorized(resource.auth):
            return self._small(401, {"WWW-Authenticate": 'Basic realm="test"'})
        status = self.server.owner._next_status(resource)
        if not 200 <= status <= 299:
            extra = dict(resource.status_headers)
            if resource.redirect_to and 300 <= status <= 399:
                extra["Location"] = resource.redirect_to
            return self._small(status, extra)
        self._send_resource(resource, send_body)

    def _authorized(self, auth):
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {token}"

    def _small(self, status, headers=None):
        body = f"{status}\n".encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _byte_range(self, resource, declared):
        """None (whole body), (start, end) or "unsatisfiable" for this request's Range."""
        header = self.headers.get("Range")
        if not resource.support_range or not header:
            return None
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range not in (resource.etag, resource.last_modified):
            return None
        match = _RANGE.fullmatch(header.strip())
        if not match:
            return None
        first = int(match[1])
        last = int(match[2]) if match[2] else declared - 1
        if first >= declared:
            return "unsatisfiable"
        return first, min(last, declared - 1) + 1

    def _send_resource(self, resource, send_body):
        declared = resource.size + resource.lie_length
        byte_range = self._byte_range(resource, declared)
        if byte_range == "unsatisfiable":
            return self._small(416, {"Content-Range": f"bytes */{declared}"})
        start, end = byte_range or (0, declared)
        self.send_response(206 if byte_range else 200)
        self._send_headers(resource, start, end, declared, partial=bool(byte_range))
        if not send_body:
            return
        serial = self.server.owner._count_body(resource)
        self._send_body(resource, start, end, serial)
        if end > resource.size:  # lie_length: what exists has been sent; the rest never comes
            raise _Dropped

    def _send_headers(self, resource, start, end, declared, partial):
        self.send_header("Content-Type", resource.content_type)
        if resource.support_range:
            self.send_header("Accept-Ranges", "bytes")
        optional = {
            "ETag": resource.etag,
            "Last-Modified": resource.last_modified,
            "Content-Disposition": resource.content_disposition,
        }
        for key, value in {**optional, **resource.headers}.items():
            if value is not None:
                self.send_header(key, value)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{declared}")
        if resource.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()

    def _send_body(self, resource, start, end, serial):
        events = self._events(resource, serial)
        sent = 0
        for piece in self._paced(resource.slices(start, end), resource.throttle):
            while events and events[0][0] < sent + len(piece):
                position, action = events.pop(0)
                head = piece[: position - sent]
                self._write(resource, head)
                sent, piece = sent + len(head), piece[len(head) :]
                action(resource)
            self._write(resource, piece)
            sent += len(piece)
        for position, action in events:  # events at the very end of the body
            if position <= sent:
                action(resource)
        if resource.chunked and end <= resource.size:
            self.wfile.write(b"0\r\n\r\n")

    def _events(self, resource, serial):
        """(body offset, action) pairs, in order, for this response."""
        events = []
        stalls = resource.stall_times < 0 or serial < resource.stall_times
        if stalls and resource.stall_after is not None:
            events.append((resource.stall_after, self._stall))
        drops = resource.drop_times < 0 or serial < resource.drop_times
        if drops and resource.drop_after is not None:
            events.append((resource.drop_after, self._drop))
        return sorted(events, key=lambda event: event[0])

    def _write(self, resource, piece):
        if not piece:
            return
        if resource.chunked:
            self.wfile.write(b"%x\r\n" % len(piece))
            self.wfile.write(piece)
            self.wfile.write(b"\r\n")
        else:
            self.wfile.write(piece)

    def _paced(self, pieces, rate):
        if not rate:
            yield from pieces
            return
        step = max(1, rate // 20)
        began, sent = time.monotonic(), 0
        for piece in pieces:
            for pos in range(0, len(piece), step):
                if self.server.owner.closing.is_set():
                    raise _Dropped
                chunk = piece[pos : pos + step]
                yield chunk
                sent += len(chunk)
                time.sleep(max(0.0, began + sent / rate - time.monotonic()))

    def _stall(self, resource):
        resource.release.wait()
        if self.server.owner.closing.is_set():
            raise _Dropped

    def _drop(self, resource):
        if resource.drop_reset:
            # Linger 0 makes close() send RST instead of FIN: an abortive drop.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            fd = self.connection.detach()
            socket.close(fd)
        raise _Dropped


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # Clients hanging up mid-response is what these tests are about.
        pass


class FileServer:
    """Serves Resources on 127.0.0.1 (a free port) from daemon threads; a context manager."""

    def __init__(self, host="127.0.0.1", port=0):
        self.resources = {}
        self.requests = []
        self._active = {}
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def start(self):
        """Start serving in a background thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self):
        """Stop serving, release stalled responses and free the port."""
        self.closing.set()
        for resource in list(self.resources.values()):
            resource.release.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    @property
    def port(self):
        return self._httpd.server_address[1]

    def url(self, path, userinfo=None):
        """Absolute URL of ``path``, with ``userinfo`` ("user:pass", pre-quoted) if given."""
        credentials = f"{userinfo}@" if userinfo else ""
        return f"http://{credentials}127.0.0.1:{self.port}{path}"

    def add(self, path, content=None, **options):
        """Serve a Resource(content, **options) at ``path``; returns it."""
        resource = Resource(content=content, **options)
        self.resources[path] = resource
        return resource

    def add_redirect(self, path, target, status=302):
        """Answer ``path`` with a ``status`` redirect to ``target`` (a path or a URL)."""
        return self.add(path, statuses=[status], redirect_to=target, etag=None)

    def requests_for(self, path):
        """Requests received for ``path`` (unquoted, query string ignored), in order."""
        with self._lock:
            return [r for r in self.requests if _resource_path(r.path) == path]

    def count(self, path):
        """How many requests ``path`` has received."""
        return len(self.requests_for(path))

    def open_connections(self, path):
        """How many requests for ``path`` are still being answered (e.g. a throttled body)."""
        with self._lock:
            return self._active.get(path, 0)

    def _track(self, path, delta):
        with self._lock:
            self._active[path] = self._active.get(path, 0) + delta

    def _record(self, method, path, headers):
        lowered = {key.lower(): value for key, value in headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, lowered))

    def _next_status(self, resource):
        with self._lock:
            serial = resource.hits
            resource.hits += 1
        if not resource.statuses:
            return 200
        return resource.statuses[min(serial, len(resource.statuses) - 1)]

    def _count_body(self, resource):
        with self._lock:
            serial = resource.bodies
            resource.bodies += 1
        return serial


def main(argv=None):
    """Serve one generated file until interrupted; print its URL and MD5."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--path", default="/file.bin")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with FileServer(port=args.port) as srv:
        srv.add(args.path, size=args.size, seed=args.seed)
        print(srv.url(args.path), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
