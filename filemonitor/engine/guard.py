"""Which addresses a download may connect to, checked on every connection actually made.

A URL's host name says nothing about where its connection goes: a public-looking name
may resolve to 127.0.0.1 (or do so only on the second lookup: DNS rebinding), and a
public server may redirect to http://169.254.169.254/. So the check runs on the socket
itself, after DNS and the TCP connect and before a single byte is sent: every new
connection (the first request, each redirect hop, each retry) asks ``allow(ip, port)``
about the peer address it reached. Pooled connections were checked when they were made.

Usage::

    session = requests.Session()
    mount_guard(session, allow_public)      # or any allow(ip, port) -> bool
    session.get(url)                        # BlockedAddress for a refused peer

fetch(..., allow_address=allow_public) does this for a download. With a proxy the
peer is the proxy, so the proxy is what gets checked.
"""

import ipaddress
import socket

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import BlockedAddress

__all__ = [
    "GuardedAdapter",
    "allow_public",
    "blocked_addresses",
    "is_public_address",
    "mount_guard",
]

#: Ranges Python 3.11 calls global that nobody serves downloads from (CGNAT, IETF,
#: benchmarking, documentation, local-use NAT64).
_NOT_ROUTED = tuple(
    ipaddress.ip_network(net)
    for net in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "2001:db8::/32", "64:ff9b:1::/48")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(ip):
    """True when ``ip`` (str or ipaddress object) is a globally routable unicast address.

    False for loopback, private, link-local, multicast, reserved, unspecified,
    site-local and shared (CGNAT) addresses, for IPv6 addresses that embed such an
    IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, NAT64, 6to4, Teredo),
    and for anything that is not an IP address at all.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0] if isinstance(ip, str) else ip)
    except ValueError:
        return False
    if address.version == 6:
        if _mapped_ipv4(address) is not None:
            return is_public_address(_mapped_ipv4(address))
        tunnelled = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if tunnelled is not None and not is_public_address(tunnelled):
            return False
    flagged = (
        address.is_loopback,
        address.is_private,
        address.is_link_local,
        address.is_multicast,
        address.is_reserved,
        address.is_unspecified,
        getattr(address, "is_site_local", False),
        any(address in net for net in _NOT_ROUTED if net.version == address.version),
    )
    return address.is_global and not any(flagged)


def _mapped_ipv4(address):
    """The IPv4 address an IPv4-mapped, -compatible or NAT64 (64:ff9b::/96) address stands for."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if int(address) >> 32 == 0 or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def allow_public(ip, port):
    """The ``allow`` predicate that lets through public addresses only, on any port."""
    return is_public_address(ip)


def blocked_addresses(host, port, allow=allow_public):
    """The addresses ``host`` resolves to that ``allow`` refuses ([] when all are fine).

    Resolves with getaddrinfo (no connection is made).
    :raises OSError: (socket.gaierror) when the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = dict.fromkeys(info[4][0] for info in infos)
    return [ip for ip in addresses if not allow(ip, port)]


class _PeerCheck:
    """Mixin for urllib3 connections: refuse the socket if ``allow`` refuses its peer."""

    allow = staticmethod(allow_public)

    def _new_conn(self):
        sock = super()._new_conn()
        ip, port = sock.getpeername()[:2]
        if not type(self).allow(ip, port):
            sock.close()
            raise BlockedAddress(None, f"{self.host} is {ip}, an address downloads may not use")
        return sock


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose every new connection is checked with ``allow(ip, port)``.

    A refused peer raises ``BlockedAddress`` (an engine DownloadError, not a
    requests exception) before the request is sent; the socket is closed.
    """

    def __init__(self, allow=allow_public, **kwargs):
        body = {"allow": staticmethod(allow)}
        http_conn = type("GuardedHTTPConnection", (_PeerCheck, HTTPConnection), body)
        https_conn = type("GuardedHTTPSConnection", (_PeerCheck, HTTPSConnection), body)
        self._pool_classes = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type(
                "GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
            ),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, *args, **kwargs):
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager


def mount_guard(session, allow=allow_public):
    """Mount a GuardedAdapter for http:// and https:// on ``session``; return the session."""
    for prefix in ("http://", "https://"):
        session.mount(prefix, GuardedAdapter(allow))
    return session
