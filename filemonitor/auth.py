"""Who may use the API: Torrent Suite's three authentications and model permissions."""

from django.conf import settings
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
            BasicAuthentication(realm=REALM), SessionAuthentication(), ApiKeyAuthentication()
        )

    def is_authenticated(self, request, **kwargs):
        result = super().is_authenticated(request, **kwargs)
        if result is not True and _anonymous_read_allowed(request):
            return True
        return result


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
