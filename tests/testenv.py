"""Environment for the test run, loaded as a plugin before Django reads its settings.

Each run gets its own var folder (SQLite file, filesystem broker, download root),
its own PostgreSQL test database and its own Celery queue, so that two runs on one
machine (two checkouts, or CI beside a developer) never take each other's tasks.
"""

import os
import shutil
from pathlib import Path

_RUN = f"run{os.getpid()}"
_VAR = Path(__file__).resolve().parent.parent / "var" / "test" / _RUN

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789abcdef")
os.environ.setdefault("FILEMONITOR_VAR_DIR", str(_VAR))
os.environ.setdefault("DATABASE_TEST_NAME", f"test_filemonitor_{_RUN}")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"filemonitor-test-{_RUN}")
# Tests talk only to servers on 127.0.0.1; a proxy from the environment would break that.
for _name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

# WhiteNoise warns about a missing STATIC_ROOT; tests serve no static files from it.
(_VAR / "static").mkdir(parents=True, exist_ok=True)


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's var folder, unless the run failed (worker logs live there)."""
    if Path(os.environ["FILEMONITOR_VAR_DIR"]) != _VAR:
        return
    if exitstatus == 0 and not os.environ.get("KEEP_TEST_VAR"):
        shutil.rmtree(_VAR, ignore_errors=True)
    else:
        print(f"\nThis run's files (worker logs, downloads) are kept in {_VAR}")
