"""Keep credentials out of log lines: API keys, passwords and tokens in URLs and headers.

Request lines reach the logs with their query strings (gunicorn's access log, Django's
runserver), and Torrent Suite clients authenticate with ``?username=...&api_key=...``.
``RedactSecrets`` rewrites any record whose message carries a secret-looking value.

Django's ``LOGGING`` puts it on the console handler; :func:`configure` (Django's
``LOGGING_CONFIG``) also puts it on the loggers that keep handlers of their own
(gunicorn's), where a handler filter from ``LOGGING`` would never run.
"""

import logging
import logging.config
import re

__all__ = ["REDACTED", "RedactSecrets", "configure", "redact"]

REDACTED = "***"
#: Loggers that log request lines through handlers Django's LOGGING does not own.
OWN_HANDLER_LOGGERS = ("gunicorn.access", "gunicorn.error", "django.server", "django.request")

_SECRET_NAME = (
    r"[^\s=&;?\"'/]*(?:key|token|secret|passw|pwd|sig|auth|credential|session)[^\s=&;\"']*"
)
#: (pattern, replacement): what a secret looks like in a log line, and what replaces it.
_PATTERNS = (
    # ?api_key=...&  password=...  access_token=...  (also percent-encoded: api_key%3D...)
    (re.compile(rf"((?<![\w-]){_SECRET_NAME}(?:=|%3[dD]))[^\s&;\"'#]+", re.I), rf"\1{REDACTED}"),
    # Authorization: ApiKey user:key / Basic dXNlcjpwYXNz / Bearer abc
    (re.compile(r"(\bApiKey\s+[^\s:\"']+:)[^\s\"']+"), rf"\1{REDACTED}"),
    (re.compile(r"(\b(?:Basic|Bearer)\s+)[A-Za-z0-9+/=._~-]{8,}"), rf"\1{REDACTED}"),
    # scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@\"']+@"), rf"\1{REDACTED}@"),
)


def redact(text):
    """``text`` with every secret-looking value replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """A filter that redacts the record's message (it never drops a record)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave it to the handler to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure(config):
    """Django's ``LOGGING_CONFIG``: ``dictConfig(config)``, then redact on the loggers that
    keep their own handlers (gunicorn configures those before Django starts)."""
    logging.config.dictConfig(config)
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
