"""A static file server for the benchmarks: os.sendfile() from real files on disk.

Run as ``python -m bench.fileserver --root DIR [--rate BYTES_PER_SECOND]``: it binds
127.0.0.1 on a free port, prints its base URL on one line and serves until SIGTERM.

Every file directly in ``--root`` is served at ``/<name>`` (a query string is ignored,
so ``/f.bin?n=7`` is the same file under another URL). The body goes from the page
cache to the socket with sendfile(2): no copy through Python, so the server is not
what limits a loopback download. ``--rate`` paces each connection to that many bytes
per second (a slow remote server); the pacing sleeps, so 100 paced connections cost
almost no CPU.
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

#: Bytes handed to one sendfile() call when not paced.
FAST_SLICE = 64 << 20
#: Paced connections send this many slices per second.
PACE_STEPS_PER_SECOND = 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-sendfile/1.0"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def _serve(self, body):
        name = unquote(urlsplit(self.path).path).lstrip("/")
        if not name or "/" in name or name.startswith("."):
            return self._not_found()
        try:
            fd = os.open(os.path.join(self.server.root, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return self._not_found()
        try:
            st = os.fstat(fd)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(st.st_size))
            self.send_header("ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"')
            self.end_headers()
            if body:
                self._send_file(fd, st.st_size)
        except OSError:  # the client hung up
            self.close_connection = True
        finally:
            os.close(fd)

    def _send_file(self, fd, size):
        self.wfile.flush()
        out = self.connection.fileno()
        rate = self.server.rate
        step = max(1, rate // PACE_STEPS_PER_SECOND) if rate else FAST_SLICE
        began = time.monotonic()
        offset = 0
        while offset < size:
            sent = os.sendfile(out, fd, offset, min(step, size - offset))
            if sent == 0:
                raise OSError("connection closed")
            offset += sent
            if rate:
                delay = began + offset / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _not_found(self):
        body = b"not found\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # clients that hang up are not the server's problem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder whose files are served")
    parser.add_argument("--rate", type=int, default=0, help="bytes/s per connection (0: no cap)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.root = os.path.abspath(args.root)
    server.rate = args.rate
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
