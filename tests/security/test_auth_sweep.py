"""Every method on every endpoint for every kind of caller without write permission:
never a successful write, nothing changed, nothing queued, no secret echoed back.

Callers: anonymous, a reader without permissions (Basic and its own API key), a wrong
password, an unknown user, a wrong API key in the header and in the query string, and
a malformed Authorization header. Endpoints: list, detail, ``set/``, ``schema/`` and
``download/``. Methods: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, and POST/GET
carrying X-HTTP-Method-Override (tastypie honours it).
"""

import json

import pytest
from tastypie.models import ApiKey

from tests.api.conftest import make_monitor, rows
from tests.conftest import API, basic_auth, make_user

pytestmark = pytest.mark.django_db

WRONG_PASSWORD = "not-the-password-7f3a"
WRONG_KEY = "0123456789abcdef0123456789abcdef01234567"
VALID = {"url": "http://example.com/files/x.zip", "status": "Complete", "tags": "t"}

CALLERS = {
    "anonymous": lambda keys: ({}, {}),
    "reader-basic": lambda keys: (basic_auth("reader", "pw-reader"), {}),
    "reader-api-key": lambda keys: ({"HTTP_AUTHORIZATION": f"ApiKey reader:{keys['reader']}"}, {}),
    "reader-api-key-query": lambda keys: ({}, {"username": "reader", "api_key": keys["reader"]}),
    "wrong-password": lambda keys: (basic_auth("boss", WRONG_PASSWORD), {}),
    "unknown-user": lambda keys: (basic_auth("nobody", WRONG_PASSWORD), {}),
    "wrong-key-header": lambda keys: ({"HTTP_AUTHORIZATION": f"ApiKey boss:{WRONG_KEY}"}, {}),
    "wrong-key-query": lambda keys: ({}, {"username": "boss", "api_key": WRONG_KEY}),
    "garbled-header": lambda keys: ({"HTTP_AUTHORIZATION": "Basic %%%"}, {}),
}
READERS = {"reader-basic", "reader-api-key", "reader-api-key-query"}
ENDPOINTS = {
    "list": lambda m: API,
    "detail": lambda m: f"{API}{m.pk}/",
    "set": lambda m: f"{API}set/{m.pk};{m.pk + 1}/",
    "schema": lambda m: f"{API}schema/",
    "download": lambda m: f"{API}{m.pk}/download/",
}
#: (method sent, X-HTTP-Method-Override or None)
METHODS = [("GET", None), ("POST", None), ("PUT", None), ("PATCH", None), ("DELETE", None),
           ("HEAD", None), ("OPTIONS", None), ("POST", "DELETE"), ("POST", "PUT"),
           ("POST", "PATCH"), ("GET", "DELETE"), ("POST", "delete")]  # fmt: skip
ONLY_METHOD = {"set": "GET", "schema": "GET", "download": "POST"}


def body_for(endpoint, method):
    if endpoint == "list" and method in ("PUT", "PATCH"):
        return {"objects": [VALID]}
    if method == "PATCH":
        return {"tags": "changed"}
    return VALID


def expected_statuses(caller, endpoint, method, override):
    """What each combination may answer: never a 2xx for a write."""
    # set/, schema/ and download/ are views of their own: they ignore the override and
    # check the method before anyone's credentials.
    plain_view = endpoint in ONLY_METHOD
    effective = method if plain_view else (override or method).upper()
    if effective == "OPTIONS":
        return {200}  # tastypie lists the allowed methods to anyone, reads nothing
    if effective == "HEAD" or (plain_view and effective != ONLY_METHOD[endpoint]):
        return {405}
    if caller not in READERS:
        return {401}
    if effective == "GET":
        return {200}
    if effective == "POST" and endpoint == "detail":
        return {501}  # tastypie (and the original) implement no POST on a row
    return {401}


@pytest.fixture
def world(db):
    admin = make_user("boss", superuser=True)
    reader = make_user("reader")
    keys = {
        "boss": ApiKey.objects.get(user=admin).key,
        "reader": ApiKey.objects.get(user=reader).key,
    }
    monitor = make_monitor(status="HTTP Error: Not Found", tags="t")  # re-queueable
    make_monitor(status="Complete", tags="t")
    return keys, monitor


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("method", "override"), METHODS, ids=[f"{m}-{o}" for m, o in METHODS])
def test_no_write_without_permission(
    client, world, django_capture_on_commit_callbacks, caller, endpoint, method, override
):
    keys, monitor = world
    headers, params = CALLERS[caller](keys)
    if override:
        headers = {**headers, "HTTP_X_HTTP_METHOD_OVERRIDE": override}
    path = ENDPOINTS[endpoint](monitor)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    before = rows()
    with django_capture_on_commit_callbacks() as queued:
        response = client.generic(
            method, f"{path}?{query}" if query else path,
            json.dumps(body_for(endpoint, (override or method).upper())),
            content_type="application/json", **headers,
        )  # fmt: skip
    assert response.status_code in expected_statuses(caller, endpoint, method, override), (
        response.status_code,
        response.content[:300],
    )
    assert rows() == before and queued == []
    echoed = response.content.decode(errors="replace") + repr(dict(response.items()))
    for secret in (WRONG_PASSWORD, WRONG_KEY, "pw-reader", *keys.values()):
        assert secret not in echoed
