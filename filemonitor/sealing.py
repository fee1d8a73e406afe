"""Source credentials sealed for the trip through the broker.

Task arguments are shown by Flower and logged by workers, so credentials travel
encrypted (Fernet, keyed from ``SECRET_KEY``) and are opened only inside the task.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

SEALED_PREFIX = "sealed:"


def _fernet():
    digest = hashlib.sha256(b"filemonitor-credentials:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def is_sealed(value):
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal(credentials):
    """Encrypt a ``(user, password)`` pair into an opaque string (None stays None)."""
    if credentials is None or is_sealed(credentials):
        return credentials
    user, password = credentials
    token = _fernet().encrypt(json.dumps([user, password]).encode())
    return SEALED_PREFIX + token.decode()


def unseal(value):
    """Return the ``(user, password)`` pair behind :func:`seal`, or the value as given.

    :raises ValueError: when the token was not sealed with this ``SECRET_KEY``.
    """
    if not is_sealed(value):
        return tuple(value) if value else None
    try:
        user, password = json.loads(_fernet().decrypt(value[len(SEALED_PREFIX) :].encode()))
    except InvalidToken:
        raise ValueError("Sealed credentials do not match this SECRET_KEY.") from None
    return user, password
