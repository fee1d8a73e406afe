"""Settings for the filemonitor service, read from the environment.

Only this package reads ``os.environ``; everything else reads ``django.conf.settings``.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FILEMONITOR_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name, default):
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = _env_bool("DJANGO_DEBUG", False)

# The development key only ever serves DEBUG; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "dev-insecure-filemonitor-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a secret value when DJANGO_DEBUG is off."
    )

ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tastypie",
    "rundb",  # importing the site package makes its Celery app the current one
    "filemonitor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rundb.urls"
WSGI_APPLICATION = "rundb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'filemonitor.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Tests hand the database to a real worker process, so SQLite's test database is a file.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME") or None}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"]["NAME"] = str(
        VAR_DIR / f"{DATABASES['default']['TEST']['NAME'] or 'test-filemonitor'}.sqlite3"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

# AutoField matches the original's integer ids and avoids a phantom tastypie migration.
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/admin/login/"

# --- Tastypie: behave as the Torrent Suite API did. ---
API_LIMIT_PER_PAGE = 20
TASTYPIE_FULL_DEBUG = False
TASTYPIE_DEFAULT_FORMATS = ["json", "jsonp"]
TASTYPIE_ALLOW_MISSING_SLASH = False

# --- filemonitor ---
FILEMONITOR_ROOT = Path(os.environ.get("FILEMONITOR_ROOT", VAR_DIR / "downloads")).resolve()
FILEMONITOR_ANONYMOUS_READ = _env_bool("FILEMONITOR_ANONYMOUS_READ", False)
FILEMONITOR_PROGRESS_INTERVAL = float(os.environ.get("FILEMONITOR_PROGRESS_INTERVAL", "1.0"))
FILEMONITOR_MAX_DOWNLOAD_SIZE = int(os.environ.get("FILEMONITOR_MAX_DOWNLOAD_SIZE", "0")) or None
# Downloads of at least this many bytes are written around the page cache (O_DIRECT):
# less CPU per byte, nothing left dirty for the final fsync (docs/benchmarks.md). 0: never.
FILEMONITOR_DIRECT_WRITE_MIN_SIZE = int(
    os.environ.get("FILEMONITOR_DIRECT_WRITE_MIN_SIZE", str(64 << 20))
)
FILEMONITOR_BLOCK_PRIVATE_NETWORKS = _env_bool("FILEMONITOR_BLOCK_PRIVATE_NETWORKS", False)
# The download engine's patience with a source: seconds to connect, seconds without a byte
# before a read counts as stalled, attempts per download (resuming where the last one
# stopped) and the longest wait between two attempts.
FILEMONITOR_CONNECT_TIMEOUT = float(os.environ.get("FILEMONITOR_CONNECT_TIMEOUT", "10"))
FILEMONITOR_READ_TIMEOUT = float(os.environ.get("FILEMONITOR_READ_TIMEOUT", "30"))
FILEMONITOR_MAX_ATTEMPTS = int(os.environ.get("FILEMONITOR_MAX_ATTEMPTS", "5"))
FILEMONITOR_BACKOFF_MAX = float(os.environ.get("FILEMONITOR_BACKOFF_MAX", "30"))
# Stale rows (filemonitor/stale.py): a row in progress that has not moved for this many
# seconds and whose task no worker holds is queued again, at most this many times in a
# row, then marked "Error: stalled". The sweep runs every INTERVAL seconds (Celery beat).
FILEMONITOR_STALE_AFTER = float(os.environ.get("FILEMONITOR_STALE_AFTER", "600"))
FILEMONITOR_STALE_MAX_REQUEUES = int(os.environ.get("FILEMONITOR_STALE_MAX_REQUEUES", "3"))
FILEMONITOR_STALE_SWEEP_INTERVAL = float(os.environ.get("FILEMONITOR_STALE_SWEEP_INTERVAL", "60"))

# The admin account `make run` makes sure of; with no password one is generated once.
FILEMONITOR_ADMIN_USERNAME = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
FILEMONITOR_ADMIN_PASSWORD = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None
FILEMONITOR_WORKER_CONCURRENCY = int(os.environ.get("FILEMONITOR_WORKER_CONCURRENCY", "4"))
FILEMONITOR_WORKER_POOL = os.environ.get("FILEMONITOR_WORKER_POOL", "prefork")

# --- Celery (read by rundb.celery through namespace="CELERY") ---
# With no broker configured, kombu's filesystem transport under var/ is the embedded
# default; its control folder must be absolute and shared, or revoke silently misses.
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "control_folder": str(_BROKER_DIR / "control"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = CELERY_RESULT_BACKEND or f"file://{_BROKER_DIR / 'results'}"
else:
    # A message whose worker vanished is redelivered after this many seconds; a
    # duplicate delivery of a running download finds its folder locked and waits.
    _VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _VISIBILITY_TIMEOUT,
        # Look for such messages every few seconds (kombu's default is every ~100 s).
        "unacked_restore_interval": max(1, min(10, _VISIBILITY_TIMEOUT // 4)),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE") or "celery"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXTENDED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not stop running downloads: they finish and their outcome is in
# the database. (With a Redis that keeps nothing on disk, messages still waiting in the
# queue are lost; the stale sweep below queues their rows again.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Seconds a worker waits for the result of a pool process that died before it hands the
# message back (reject_on_worker_lost): the download resumes that much later.
CELERY_WORKER_LOST_WAIT = float(os.environ.get("CELERY_WORKER_LOST_WAIT", "10"))
# Celery beat (`celery -A rundb beat`, or a worker's --beat): the stale-row sweep.
CELERY_BEAT_SCHEDULE = {
    "recover-stale-downloads": {
        "task": "filemonitor.recover_stale",
        "schedule": FILEMONITOR_STALE_SWEEP_INTERVAL,
        # A sweep nobody ran in time is dropped: the next one will do.
        "options": {"expires": FILEMONITOR_STALE_SWEEP_INTERVAL},
    }
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# API keys and passwords in request lines (?api_key=...) are redacted: rundb/logging.py.
LOGGING_CONFIG = "rundb.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_secrets": {"()": "rundb.logging.RedactSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
