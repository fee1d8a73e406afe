"""Many API clients at once against gunicorn on PostgreSQL, while downloads run.

Each client (a thread with its own requests.Session) reads lists and rows and PATCHes
the tags of rows of its own with values it never repeats, remembering the last one the
server accepted. Meanwhile a real worker downloads files from the loopback server (each
download row is also PATCHed by a client, so progress writes race the PATCHes).
Afterwards: no 5xx and no failed request, every row holds its client's last write, every
download is Complete with the right md5. Latencies and totals are printed (-s).

make test runs a small version (20 clients, 10 s, 5 downloads); make soak the full one
(200 clients, 60 s, 20 downloads).
"""

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.client import RemoteDisconnected

import pytest
import requests

from tests.conftest import API, poll
from tests.engine.httpserver import FileServer
from tests.load.stack import Stack, unreachable

pytestmark = [pytest.mark.worker]

MiB = 1 << 20
#: Bounds on every loop, whatever the clock says.
MAX_REQUESTS_PER_CLIENT = 100_000
REQUEST_TIMEOUT = 120


@dataclass
class Client:
    """One simulated API client and what it saw."""

    number: int
    session: requests.Session
    rows: list = field(default_factory=list)
    last_tags: dict = field(default_factory=dict)
    latencies: dict = field(default_factory=lambda: {"list": [], "detail": [], "patch": []})
    statuses: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    resent: int = 0

    def call(self, op, method, url, **kwargs):
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                response = self.session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
                break
            except requests.RequestException as exc:
                if attempt == 1 and _closed_while_idle(exc):
                    # gunicorn closes a keep-alive connection idle for 2 s; a client thread
                    # starved of CPU may send on it just then. Every request here is
                    # idempotent (a GET, or a PATCH to a value never used before): resend.
                    self.resent += 1
                    continue
                self.failures.append(f"{op}: {type(exc).__name__}: {exc}")
                return None
        self.latencies[op].append(time.perf_counter() - started)
        self.statuses[response.status_code] += 1
        if response.status_code >= 300:
            self.failures.append(f"{op}: {response.status_code} {response.text[:200]}")
        return response


def _closed_while_idle(exc):
    """True when the server closed the (reused) connection before reading the request."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionResetError | BrokenPipeError | RemoteDisconnected):
            return True
        pending += [*current.args, current.__cause__, current.__context__]
    return False


def run_client(client, base, deadline, rng):
    """Read and PATCH until ``deadline`` (bounded by MAX_REQUESTS_PER_CLIENT)."""
    prefix = f"c{client.number}-"
    for serial in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= deadline:
            return
        draw = rng.random()
        if draw < 0.40:
            query = rng.choice([
                "limit=20", f"tags__startswith={prefix}", "order_by=-updated&limit=50",
                f"status=Complete&limit=10&offset={rng.randrange(50)}",
                "status__in=Queued,Downloading",
            ])  # fmt: skip
            client.call("list", "GET", f"{base}?{query}")
        elif draw < 0.55:
            client.call("detail", "GET", f"{base}{rng.choice(client.rows)}/")
        else:
            pk = client.rows[serial % len(client.rows)]
            tags = f"{prefix}{pk}-{serial}"
            response = client.call("patch", "PATCH", f"{base}{pk}/", json={"tags": tags})
            if response is not None and response.status_code == 202:
                client.last_tags[pk] = tags
            else:
                client.last_tags[pk] = None  # outcome unknown: checked separately


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(clients, seconds):
    lines = []
    everything = []
    for op in ("list", "detail", "patch"):
        values = [v for c in clients for v in c.latencies[op]]
        everything += values
        p50, p99, worst = (
            1000 * x
            for x in (percentile(values, 0.5), percentile(values, 0.99), max(values, default=0))
        )
        lines.append(f"{op:6} n={len(values):6}  p50={p50:7.1f} ms  p99={p99:7.1f} ms  "
                     f"max={worst:7.1f} ms")  # fmt: skip
    statuses = sum((c.statuses for c in clients), Counter())
    resent = sum(c.resent for c in clients)
    lines.append(
        f"all    n={len(everything):6}  p50={percentile(everything, 0.5) * 1000:7.1f} ms  "
        f"p99={percentile(everything, 0.99) * 1000:7.1f} ms  "
        f"{len(everything) / seconds:.0f} req/s over {seconds:.1f} s; statuses {dict(statuses)}; "
        f"{resent} resent after gunicorn closed an idle keep-alive connection"
    )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = unreachable()
    if reason:
        pytest.skip(reason)
    with Stack(tmp_path_factory.mktemp("load")) as running:
        yield running


def start_downloads(stack, server, count, size, rate):
    session = requests.Session()
    session.headers.update(stack.auth_header)
    made = {}
    for index in range(count):
        path = f"/load/{uuid.uuid4().hex}-{index}.bin"
        resource = server.add(path, size=size, seed=index, throttle=rate)
        response = session.post(stack.url(API), json={"url": server.url(path)}, timeout=60)
        assert response.status_code == 201, response.text
        made[int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])] = resource
    return made


def own_rows(stack, number, count):
    session = requests.Session()
    session.headers.update(stack.auth_header)
    pks = []
    for index in range(count):
        body = {"url": f"http://example.com/load/{number}/{index}", "status": "Complete",
                "tags": f"c{number}-initial"}  # fmt: skip
        response = session.post(stack.url(API), json=body, timeout=60)
        assert response.status_code == 201, response.text
        pks.append(int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1]))
    return session, pks


@pytest.mark.parametrize(
    ("clients", "seconds", "downloads"),
    [pytest.param(20, 10, 5, id="20-clients-10s"),
     pytest.param(200, 60, 20, id="200-clients-60s", marks=[pytest.mark.soak,
                                                             pytest.mark.timeout(1200)])],
)  # fmt: skip
def test_api_under_load(stack, clients, seconds, downloads):
    base = stack.url(API)
    with FileServer() as server:
        setups = [own_rows(stack, number, 2) for number in range(clients)]
        crowd = []
        for number, (session, pks) in enumerate(setups):
            session.headers.update(stack.auth_header)
            crowd.append(Client(number, session, rows=pks))
        fetched = start_downloads(stack, server, downloads, size=8 * MiB, rate=2 * MiB)
        for index, pk in enumerate(fetched):  # a client also PATCHes each download row
            crowd[index % clients].rows.append(pk)

        began = time.monotonic()
        threads = [
            threading.Thread(
                target=run_client, args=(c, base, began + seconds, random.Random(c.number)),
                name=f"load-client-{c.number}", daemon=True,
            )
            for c in crowd
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT)
        elapsed = time.monotonic() - began
        assert not any(thread.is_alive() for thread in threads), "a client never finished"

        admin = requests.Session()
        admin.headers.update(stack.auth_header)

        def finished():
            pks = ";".join(map(str, fetched))
            body = admin.get(f"{base}set/{pks}/", timeout=60).json()
            states = {o["id"]: o for o in body["objects"]}
            return all(o["status"] not in ("Queued", "Starting", "Downloading")
                       for o in states.values()) and states  # fmt: skip

        final = poll(finished, timeout=600, interval=0.5, message="the downloads to finish")

    print(f"\n{clients} clients, {seconds} s, {downloads} downloads of 8 MiB")
    print(summary(crowd, elapsed))
    failures = [f for c in crowd for f in c.failures]
    assert failures == [], failures[:20]
    for pk, resource in fetched.items():
        row = final[pk]
        assert row["status"] == "Complete", row
        assert row["md5sum"] == resource.md5 and row["size"] == str(resource.size)
    lost = []
    for client in crowd:
        pks = ";".join(map(str, client.rows))
        rows = {o["id"]: o for o in admin.get(f"{base}set/{pks}/", timeout=60).json()["objects"]}
        for pk, tags in client.last_tags.items():
            if tags is not None and rows[pk]["tags"] != tags:
                lost.append((client.number, pk, tags, rows[pk]["tags"]))
    assert lost == [], f"{len(lost)} PATCHes lost, e.g. {lost[:5]}"
    assert sum(len(c.last_tags) for c in crowd) > 0
