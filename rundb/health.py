"""``GET /healthz``: is the database answering, and the broker?

For load balancers and container healthchecks: no authentication, a small JSON body,
200 when every part is ok and 503 naming the part that is not. A failure reason is
short and never carries credentials (a broker or database URL's password).
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

#: Seconds the broker check may spend connecting, and its one retry's pause.
BROKER_TIMEOUT = 2
_REASON_MAX = 120
_URL_USERINFO = re.compile(r"(//)[^/@\s]*@")


def _short_reason(exc, secrets=()):
    """``"<ExceptionClass>: <first line>"``, cut short, with credentials blanked."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    text = _URL_USERINFO.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if len(text) > _REASON_MAX:
        text = text[: _REASON_MAX - 3] + "..."
    return f"error: {text}"


def check_database(alias="default"):
    """``"ok"`` when the database answers ``SELECT 1``, else ``"error: <reason>"``."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _short_reason(exc, secrets=[settings.DATABASES[alias].get("PASSWORD")])
    return "ok"


def check_broker():
    """``"ok"`` when the Celery broker accepts a connection, else ``"error: <reason>"``.

    The connection is built from the settings at call time (not from what the Celery
    app read at start), so a test's ``override_settings`` is honoured.
    """
    from rundb.celery import app

    url = settings.CELERY_BROKER_URL
    try:
        connection = app.connection_for_write(
            url,
            transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None),
            connect_timeout=BROKER_TIMEOUT,
        )
        with connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT
            )
    except Exception as exc:
        return _short_reason(exc, secrets=[urlsplit(url).password])
    return "ok"


@never_cache
@require_safe
def healthz(request):
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(result == "ok" for result in checks.values())
    body = {"status": "ok" if healthy else "error", **checks}
    return JsonResponse(body, status=200 if healthy else 503)
