"""Environment for the test run, loaded as a plugin before Django reads its settings."""

import os
from pathlib import Path

_VAR = Path(__file__).resolve().parent.parent / "var" / "test"

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789abcdef")
os.environ.setdefault("FILEMONITOR_VAR_DIR", str(_VAR))
# Tests talk only to servers on 127.0.0.1; a proxy from the environment would break that.
for _name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

# WhiteNoise warns about a missing STATIC_ROOT; tests serve no static files from it.
(_VAR / "static").mkdir(parents=True, exist_ok=True)
