"""Receive a URL's body as fast as Python can: ``python -m bench.rawget URL [N]`` prints bytes/s.

A plain socket and recv_into() a 4 MiB buffer, no parsing or copying of the body: what
the file server and loopback TCP deliver, without curl's small reads in the way. With
N, the URL is fetched N times in a row and the rate is over all of them.
"""

import socket
import sys
import time
from urllib.parse import urlsplit


def receive(url, view):
    """Bytes received for one GET of ``url`` (headers included), until the server closes."""
    path = url.path + (f"?{url.query}" if url.query else "")
    with socket.create_connection((url.hostname, url.port or 80), timeout=60) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        received = 0
        while count := sock.recv_into(view):
            received += count
    return received


def main(argv=None):
    args = argv if argv is not None else sys.argv[1:]
    url = urlsplit(args[0])
    repeat = int(args[1]) if len(args) > 1 else 1
    view = memoryview(bytearray(4 << 20))
    began = time.perf_counter()
    received = sum(receive(url, view) for _ in range(repeat))
    print(f"{received / (time.perf_counter() - began):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
