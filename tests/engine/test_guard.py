"""guard.py: downloads refused at connect time for addresses the caller does not allow.

The blocking predicate sees the peer address of every new connection, after DNS and
before a byte is sent, so these tests can use the loopback server: with the public-only
predicate nothing reaches it, and an allow-list predicate (by port) shows redirects
being checked hop by hop.
"""

import socket

import pytest
import requests

from filemonitor.engine import RetryPolicy, fetch
from filemonitor.engine.errors import BlockedAddress, DownloadError
from filemonitor.engine.guard import (
    GuardedAdapter,
    allow_public,
    blocked_addresses,
    is_public_address,
    mount_guard,
)

from .helpers import listing
from .httpserver import FileServer

BLOCKED = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1",
    "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a00:1::1", "not an address", "", "localhost",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
          "64:ff9b::808:808", "2002:808:808::1"]  # fmt: skip
ONE_TRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.001, jitter=False)


@pytest.mark.parametrize("ip", BLOCKED)
def test_non_public_addresses_are_refused(ip):
    assert not is_public_address(ip)
    assert not allow_public(ip, 80)


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_are_allowed(ip):
    assert is_public_address(ip)


class Calls:
    """An allow(ip, port) predicate that records what it was asked."""

    def __init__(self, verdict):
        self.verdict, self.seen = verdict, []

    def __call__(self, ip, port):
        self.seen.append((ip, port))
        return self.verdict(ip, port)


def test_loopback_server_is_never_contacted(server, dest):
    server.add("/f.bin", size=1000)
    allow = Calls(allow_public)
    with pytest.raises(BlockedAddress) as caught:
        fetch(server.url("/f.bin"), dest, allow_address=allow, policy=ONE_TRY)
    assert server.requests == []
    assert listing(dest) == []
    assert caught.value.retryable is False
    assert allow.seen == [("127.0.0.1", server.port)]  # one connection, no retry
    assert "127.0.0.1" in caught.value.detail and "/f.bin" in caught.value.url


def test_localhost_by_name_is_refused(server, dest):
    server.add("/f.bin", size=1000)
    with pytest.raises(BlockedAddress):
        fetch(f"http://localhost:{server.port}/f.bin", dest, allow_address=allow_public)
    assert server.requests == []


@pytest.fixture
def public_name_for_loopback(monkeypatch):
    """Make "files.example.org" resolve to 127.0.0.1, as a hostile DNS answer would."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        return real("127.0.0.1" if host == "files.example.org" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "files.example.org"


def test_a_public_looking_name_resolving_to_loopback_is_refused(
    server, dest, public_name_for_loopback
):
    server.add("/f.bin", size=1000)
    url = f"http://{public_name_for_loopback}:{server.port}/f.bin"
    with pytest.raises(BlockedAddress) as caught:
        fetch(url, dest, allow_address=allow_public)
    assert server.requests == []
    assert "files.example.org is 127.0.0.1" in caught.value.detail
    # The same URL with everything allowed does reach the server: the name really maps.
    assert fetch(url, dest, allow_address=lambda ip, port: True).size == 1000


def test_a_redirect_to_a_refused_address_is_blocked(server, dest):
    with FileServer() as other:
        resource = other.add("/target.bin", size=5000, seed=3)
        server.add_redirect("/start", other.url("/target.bin"))
        only_first = Calls(lambda ip, port: port == server.port)
        with pytest.raises(BlockedAddress) as caught:
            fetch(server.url("/start"), dest, allow_address=only_first, policy=ONE_TRY)
        assert server.count("/start") == 1
        assert other.requests == []
        assert only_first.seen == [("127.0.0.1", server.port), ("127.0.0.1", other.port)]
        assert f"127.0.0.1:{other.port}" not in caught.value.detail  # the host, not the URL
        assert listing(dest) == []
        # Control: allowing both hops, the redirect is followed to the file.
        both = {server.port, other.port}
        result = fetch(server.url("/start"), dest, allow_address=lambda ip, port: port in both)
        assert result.md5 == resource.md5


def test_an_allowed_redirect_chain_downloads(server, dest):
    """A redirect that stays on an allowed server is followed; every connection was asked."""
    server.add("/final.bin", size=100)
    server.add_redirect("/hop", server.url("/final.bin"))
    allow = Calls(lambda ip, port: True)
    assert fetch(server.url("/hop"), dest, allow_address=allow).size == 100
    assert allow.seen and set(allow.seen) == {("127.0.0.1", server.port)}


def test_credentials_never_appear_in_the_error(server, dest):
    server.add("/f.bin", size=10)
    with pytest.raises(BlockedAddress) as caught:
        fetch(server.url("/f.bin", userinfo="alice:s3cr3t"), dest, allow_address=allow_public)
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in repr(caught.value.args)


def test_blocked_address_is_a_download_error():
    assert issubclass(BlockedAddress, DownloadError)
    assert BlockedAddress("http://x/", "no").retryable is False


def test_allow_address_and_session_do_not_mix(dest):
    with pytest.raises(ValueError):
        fetch("http://127.0.0.1:1/", dest, allow_address=allow_public, session=requests.Session())


def test_guarded_adapter_on_a_plain_session(server):
    server.add("/f.bin", content=b"hello")
    with requests.Session() as session:
        mount_guard(session, lambda ip, port: port == server.port)
        assert session.get(server.url("/f.bin"), timeout=10).content == b"hello"
    with requests.Session() as session:
        session.mount("http://", GuardedAdapter(allow_public))
        with pytest.raises(BlockedAddress):
            session.get(server.url("/f.bin"), timeout=10)
    assert server.count("/f.bin") == 1


def test_blocked_addresses_resolves_without_connecting():
    assert blocked_addresses("127.0.0.1", 80) == ["127.0.0.1"]
    assert set(blocked_addresses("localhost", 80)) <= {"127.0.0.1", "::1"}
    assert blocked_addresses("localhost", 80)
    assert blocked_addresses("8.8.8.8", 80) == []  # a literal: no DNS query is made
    assert blocked_addresses("8.8.8.8", 80, allow=lambda ip, port: port != 80) == ["8.8.8.8"]
