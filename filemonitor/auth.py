"""Who may use the API: Torrent Suite's three authentications and model permissions."""

import hmac
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F
from tastypie.authentication import (
    ApiKeyAuthentication,
    BasicAuthentication,
    MultiAuthentication,
    SessionAuthentication,
)
from tastypie.authorization import DjangoAuthorization
from tastypie.exceptions import Unauthorized

REALM = "Torrent Suite"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _anonymous_read_allowed(request):
    return settings.FILEMONITOR_ANONYMOUS_READ and request.method in SAFE_METHODS


class TorrentSuiteAuthentication(MultiAuthentication):
    """Basic (realm ``Torrent Suite``), then session, then API key, in that order.

    Session writes need tastypie's CSRF check (``X-CSRFToken`` matching the cookie).
    Anonymous reads pass only when ``FILEMONITOR_ANONYMOUS_READ`` is on.
    """

    def __init__(self):
        super().__init__(
            BasicAuthentication(realm=REALM),
            SessionAuthentication(),
            PrecompiledApiKeyAuthentication(),
        )

    def is_authenticated(self, request, **kwargs):
        result = super().is_authenticated(request, **kwargs)
        if result is not True and _anonymous_read_allowed(request):
            return True
        return result


class PrecompiledApiKeyAuthentication(ApiKeyAuthentication):
    """Tastypie's API-key check, its one query compiled once instead of on every request.

    Tastypie builds ``User.objects.select_related("api_key").get(username=...)`` anew
    for each request, and compiling it costs more CPU than running it: about a third
    of a detail GET. The same user row and key, read by SQL the ORM compiled once,
    answer exactly as tastypie's check does.
    """

    def is_authenticated(self, request, **kwargs):
        try:
            username, api_key = self.extract_credentials(request)
        except ValueError:
            return self._unauthorized()
        if not username or not api_key:
            return self._unauthorized()
        users = _users_with_api_key(username)
        if len(users) != 1:  # none, or (with a non-unique username field) too many
            return self._unauthorized()
        user = users[0]
        if not self.check_active(user):
            return False
        stored = user.api_key_value  # None when the user has no key
        if stored is None or not hmac.compare_digest(stored.encode(), api_key.encode()):
            return self._unauthorized()
        request.user = user
        return True


def _users_with_api_key(username):
    """The users called ``username``, each with ``api_key_value``: their key, or None."""
    user_model = get_user_model()
    manager = user_model._default_manager
    return list(manager.raw(_users_with_api_key_sql(user_model, manager.db), [username]))


@cache
def _users_with_api_key_sql(user_model, using):
    """The SQL of ``User.objects.filter(username=%s)`` joined (LEFT) to the user's ApiKey."""
    probe = "probe-username"
    query = (
        user_model._default_manager.filter(**{user_model.USERNAME_FIELD: probe})
        .annotate(api_key_value=F("api_key__key"))
        .query
    )
    sql, params = query.get_compiler(using=using).as_sql()
    if params != (probe,):  # the username must be the query's only parameter
        raise RuntimeError(f"Unexpected parameters in the API-key query: {params!r}")
    return sql


class ReadOpenWritePermitted(DjangoAuthorization):
    """Any authenticated user reads; writes need Django's add/change/delete permissions.

    A write without its permission is refused (401) whether it names one row or a
    whole list: tastypie would otherwise answer a list write with success while
    silently doing nothing.
    """

    def read_list(self, object_list, bundle):
        return object_list

    def read_detail(self, object_list, bundle):
        return True

    def perm_list_checks(self, request, code, obj_list):
        permitted = super().perm_list_checks(request, code, obj_list)
        if permitted is not obj_list:
            raise Unauthorized("You are not allowed to change that resource.")
        return permitted
