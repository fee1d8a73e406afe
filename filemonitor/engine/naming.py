"""Untrusted text to safe file names, and URLs made fit to log (credentials out)."""

import re
import unicodedata
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_NAME",
    "MAX_NAME_BYTES",
    "filename_from_disposition",
    "is_plain_name",
    "redact_url",
    "resolve_name",
    "safe_basename",
    "split_credentials",
]

DEFAULT_NAME = "the_download_with_no_name"
PART_SUFFIX = ".part"
META_SUFFIX = ".part.meta"
# NAME_MAX is 255 bytes on every filesystem we care about, and the sidecar
# "<name>.part.meta" must fit as well as "<name>.part" and "<name>".
MAX_NAME_BYTES = 255 - len(META_SUFFIX)
# Longer "extensions" are really just dotted names; don't sacrifice the stem for them.
_MAX_EXT_BYTES = 16
# Bidi overrides let "evil\u202etxt.exe" display as "evilexe.txt"; marks are invisible.
_INVISIBLE = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SENSITIVE_PARAM = re.compile(r"token|key|secret|sig|pass|pwd|auth|credential|session", re.I)
_DISPOSITION_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r'\\(["\\])')


def safe_basename(raw, default=DEFAULT_NAME):
    """Reduce untrusted ``raw`` to a name that is safe to create inside a directory.

    The result has no directory part (``/`` and ``\\`` both separate), no
    control, surrogate or bidi-override characters, no surrounding whitespace,
    is not made only of dots, and is at most MAX_NAME_BYTES in UTF-8 (the
    extension is kept when truncating). ``default`` is returned when nothing
    usable is left. Idempotent: ``safe_basename(safe_basename(x)) == safe_basename(x)``.
    """
    if not isinstance(raw, str):
        return default
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if _is_allowed_char(ch))
    base = _truncate(base.strip(), MAX_NAME_BYTES).strip()
    if not base.strip("."):
        return default
    return base


def is_plain_name(name):
    """True when ``name`` is already a safe base name, i.e. safe_basename leaves it alone."""
    return isinstance(name, str) and bool(name) and safe_basename(name, default="") == name


def _is_allowed_char(ch):
    return unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _INVISIBLE


def _truncate(name, limit):
    """Cut ``name`` to ``limit`` UTF-8 bytes on a character boundary, keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    ext_bytes = len(ext.encode("utf-8")) + 1
    if dot and stem.strip(".") and ext_bytes <= _MAX_EXT_BYTES:
        return _cut(stem, limit - ext_bytes).rstrip() + "." + ext
    return _cut(name, limit)


def _cut(text, limit):
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def filename_from_disposition(header):
    """The raw (unsanitised) file name a Content-Disposition header proposes, or None.

    RFC 6266: ``filename*`` (RFC 8187 ``charset'lang'pct-encoded``) wins over
    ``filename``; both quoted and unquoted values are accepted. Inside quotes
    only ``\\"`` and ``\\\\`` are escapes: servers send Windows paths unescaped.
    """
    if not header:
        return None
    params = {}
    # The leading ";" also accepts headers that (wrongly) omit the disposition type.
    for key, value in _DISPOSITION_PARAM.findall(";" + header):
        params.setdefault(key.lower(), value.strip())
    extended = _decode_ext_value(params.get("filename*"))
    if extended:
        return extended
    plain = params.get("filename")
    if not plain:
        return None
    if len(plain) >= 2 and plain[0] == plain[-1] == '"':
        plain = _QUOTED_PAIR.sub(r"\1", plain[1:-1])
    return _undo_latin1(plain.strip('"'))


def _decode_ext_value(value):
    if not value:
        return None
    charset, _, rest = value.strip('"').partition("'")
    _lang, _, encoded = rest.partition("'")
    charset = charset.strip().lower() or "utf-8"
    if charset not in ("utf-8", "iso-8859-1", "latin-1"):
        return None
    return unquote(encoded, encoding=charset, errors="replace")


def _undo_latin1(text):
    # http.client decodes header bytes as Latin-1; servers that put raw UTF-8
    # in filename= would otherwise give mojibake.
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def basename_from_url(url):
    """The percent-decoded last segment of the URL's path ('' for a directory URL)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    return unquote(path.rsplit("/", 1)[-1], errors="replace")


def resolve_name(content_disposition, url):
    """The safe name for a download with no explicit name.

    Content-Disposition first, then the basename of ``url`` (the URL as
    requested, not as redirected: the legacy behaviour, so a link's name does
    not change when the server moves files around), then DEFAULT_NAME.
    """
    for raw in (filename_from_disposition(content_disposition), basename_from_url(url)):
        name = safe_basename(raw, default="")
        if name:
            return name
    return DEFAULT_NAME


def split_credentials(url):
    """Split ``user:password@`` out of an http(s) URL: ``(url_without_it, (user, password))``.

    The credentials are percent-decoded. Returns ``(url, None)`` when there is
    no userinfo or the URL cannot be parsed; never raises.
    """
    if not isinstance(url, str):
        return url, None
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return url, None
    if "@" not in netloc:
        return url, None
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = url.replace("//" + netloc, "//" + hostport, 1)
    if not user and not password:
        return bare, None
    return bare, (unquote(user), unquote(password))


def redact_url(url):
    """``url`` fit for logs and messages: userinfo and secret-looking query values -> ``***``.

    Never raises; an unparseable URL comes back as a placeholder.
    """
    if not isinstance(url, str):
        return "<unparseable URL>"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    redacted = url
    if "@" in parts.netloc:
        hostport = parts.netloc.rpartition("@")[2]
        redacted = redacted.replace("//" + parts.netloc, "//***@" + hostport, 1)
    if parts.query:
        query = "&".join(_redact_param(p) for p in parts.query.split("&"))
        redacted = redacted.replace("?" + parts.query, "?" + query, 1)
    return redacted


def _redact_param(param):
    key, eq, _value = param.partition("=")
    return f"{key}=***" if eq and _SENSITIVE_PARAM.search(unquote(key)) else param
