"""Who may use the API: Basic, session and API key; model permissions for writes."""

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from tastypie.authentication import ApiKeyAuthentication
from tastypie.models import ApiKey

from filemonitor.auth import PrecompiledApiKeyAuthentication
from tests.api.conftest import JsonClient, detail_url, make_monitor, rows
from tests.conftest import API, basic_auth, make_user

pytestmark = pytest.mark.django_db

VALID = {"url": "http://example.com/files/c.zip", "status": "Complete"}
CSRF_SECRET = "abcdefghijklmnopqrstuvwxyz012345"

#: Every kind of write, as (name, call); each must be refused without the permission.
WRITES = [
    ("post-list", lambda api, m: api.post(VALID)),
    ("put-detail", lambda api, m: api.put(VALID, detail_url(m.pk))),
    ("put-detail-create", lambda api, m: api.put(VALID, detail_url(m.pk + 50))),
    ("put-list", lambda api, m: api.put({"objects": [VALID]})),
    ("patch-detail", lambda api, m: api.patch({"tags": "x"}, detail_url(m.pk))),
    ("patch-list-create", lambda api, m: api.patch({"objects": [VALID]})),
    ("patch-list-update",
     lambda api, m: api.patch({"objects": [{"resource_uri": detail_url(m.pk), "tags": "x"}]})),
    ("patch-list-delete",
     lambda api, m: api.patch({"objects": [], "deleted_objects": [detail_url(m.pk)]})),
    ("delete-detail", lambda api, m: api.delete(detail_url(m.pk))),
    ("delete-list", lambda api, m: api.delete(API)),
    ("delete-list-filtered", lambda api, m: api.delete(f"{API}?tags=t")),
]  # fmt: skip
#: The permissions each write needs; PUT on the list deletes the old rows as well.
NEEDS = {
    "post-list": ("add",), "put-detail": ("change",), "put-detail-create": ("add",),
    "put-list": ("delete", "add", "change"), "patch-detail": ("change",),
    "patch-list-create": ("add",), "patch-list-update": ("change",),
    "patch-list-delete": ("delete",), "delete-detail": ("delete",), "delete-list": ("delete",),
    "delete-list-filtered": ("delete",),
}  # fmt: skip
ALL_PERMS = ("add", "change", "delete")


@pytest.fixture
def monitor(db):
    return make_monitor(tags="t")


def as_user(client, username, *perms):
    """A JSON client for a new user holding the given add/change/delete permissions."""
    make_user(username, *(f"{perm}_filemonitor" for perm in perms))
    return JsonClient(client, basic_auth(username, f"pw-{username}"))


def test_anonymous_is_401_with_the_torrent_suite_realm(client, monitor):
    for path in (API, detail_url(monitor.pk), f"{API}schema/", f"{API}set/{monitor.pk}/"):
        response = client.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].lower() == 'basic realm="torrent suite"'


@pytest.mark.parametrize("auth", [basic_auth("boss", "wrong"), basic_auth("nobody", "x"),
                                  {"HTTP_AUTHORIZATION": "Basic !!!notbase64"},
                                  {"HTTP_AUTHORIZATION": "ApiKey boss:wrongkey"}])  # fmt: skip
def test_bad_credentials_are_401(client, admin_user, monitor, auth):
    assert client.get(API, **auth).status_code == 401


@pytest.mark.parametrize("way", ["basic", "api-key-header", "api-key-query", "session"])
def test_every_way_in_reads(client, admin_user, api_key_header, admin_auth, monitor, way):
    key = ApiKey.objects.get(user=admin_user).key
    if way == "session":
        client.force_login(admin_user)
    headers = {"basic": admin_auth, "api-key-header": api_key_header}.get(way, {})
    params = {"username": "boss", "api_key": key} if way == "api-key-query" else {}
    response = client.get(API, params, **headers)
    assert response.status_code == 200
    assert response.json()["objects"][0]["id"] == monitor.pk


def test_every_user_gets_an_api_key(db):
    user = make_user("newcomer")
    assert len(ApiKey.objects.get(user=user).key) >= 32


@pytest.mark.parametrize("auth_kind", ["basic", "api-key"])
def test_api_key_and_basic_can_write(client, admin_user, admin_auth, api_key_header, auth_kind):
    auth = admin_auth if auth_kind == "basic" else api_key_header
    assert JsonClient(client, auth).post(VALID).status_code == 201


def test_session_write_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    api = JsonClient(client, {})
    assert api.post(VALID).status_code == 401
    assert rows() == []
    client.cookies["csrftoken"] = CSRF_SECRET
    assert api.post(VALID, HTTP_X_CSRFTOKEN=CSRF_SECRET).status_code == 201
    assert len(rows()) == 1


@pytest.mark.parametrize(("name", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_writes_need_model_permissions(client, monitor, name, write):
    # The user holds every other permission; nothing may change, even half-way.
    before = rows()
    others = [perm for perm in ALL_PERMS if perm not in NEEDS[name]]
    response = write(as_user(client, "limited", *others), monitor)
    assert response.status_code == 401, response.content
    assert rows() == before


@pytest.mark.parametrize(("name", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_the_one_permission_is_enough(client, monitor, name, write):
    response = write(as_user(client, "granted", *NEEDS[name]), monitor)
    assert response.status_code in (201, 202, 204), response.content


def test_reader_reads_but_cannot_write(client, reader_auth, monitor):
    reader = JsonClient(client, reader_auth)
    assert reader.get(detail_url(monitor.pk)).status_code == 200
    assert reader.get(f"{API}schema/").status_code == 200
    assert reader.delete(detail_url(monitor.pk)).status_code == 401
    assert rows()[0]["id"] == monitor.pk


@pytest.mark.parametrize("path", ["", "{pk}/", "schema/", "set/{pk}/"])
def test_anonymous_read_setting_opens_reads(client, settings, monitor, path):
    settings.FILEMONITOR_ANONYMOUS_READ = True
    assert client.get(API + path.format(pk=monitor.pk)).status_code == 200


@pytest.mark.parametrize(("name", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_anonymous_read_setting_keeps_writes_closed(client, settings, monitor, name, write):
    settings.FILEMONITOR_ANONYMOUS_READ = True
    before = rows()
    assert write(JsonClient(client, {}), monitor).status_code == 401
    assert rows() == before


@pytest.mark.parametrize("missing", NEEDS["put-list"])
def test_put_list_needs_every_permission(client, monitor, missing):
    before = rows()
    partial = as_user(client, "partial", *(perm for perm in ALL_PERMS if perm != missing))
    assert partial.put({"objects": [VALID]}).status_code == 401
    assert rows() == before


def _api_key_request(username, key, *, in_query=False):
    factory = RequestFactory()
    if in_query:
        return factory.get(API, {"username": username, "api_key": key})
    return factory.get(API, HTTP_AUTHORIZATION=f"ApiKey {username}:{key}")


def _outcome(authentication, request):
    """What an authentication answers: True, False or a status code; and who it let in."""
    result = authentication.is_authenticated(request)
    answer = result if isinstance(result, bool) else result.status_code
    return answer, getattr(getattr(request, "user", None), "pk", None)


@pytest.mark.parametrize(
    ("case", "username", "key_of", "expected"),
    [
        ("right key", "keyed", "keyed", True),
        ("right key in the query", "keyed", "keyed", True),
        ("another user's key", "keyed", "other", 401),
        ("wrong key", "keyed", None, 401),
        ("unknown user", "nobody", "keyed", 401),
        ("username in other case", "KEYED", "keyed", 401),
        ("inactive user", "inactive", "inactive", False),
        ("user without a key", "keyless", None, 401),
        ("empty key", "keyed", "", 401),
    ],
)
def test_api_key_check_answers_as_tastypies(db, case, username, key_of, expected):
    for name in ("keyed", "other", "inactive", "keyless"):
        make_user(name)
    User.objects.filter(username="inactive").update(is_active=False)
    ApiKey.objects.filter(user__username="keyless").delete()
    keys = dict(ApiKey.objects.values_list("user__username", "key"))
    key = keys.get(key_of, "0123456789abcdef" if key_of is None else key_of)
    in_query = case == "right key in the query"
    answers = [
        _outcome(authentication, _api_key_request(username, key, in_query=in_query))
        for authentication in (PrecompiledApiKeyAuthentication(), ApiKeyAuthentication())
    ]
    assert answers[0] == answers[1]
    assert answers[0][0] == expected


def test_api_key_user_needs_the_model_permission_to_write(client, monitor):
    for name, perms in (("keyreader", ()), ("keywriter", ("change_filemonitor",))):
        user = make_user(name, *perms)
        api = JsonClient(client, {"HTTP_AUTHORIZATION": f"ApiKey {name}:{user.api_key.key}"})
        expected = 202 if perms else 401
        assert api.patch({"tags": name}, detail_url(monitor.pk)).status_code == expected
