"""The download root: the only place on disk this service writes or deletes."""

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DIR_MODE = 0o755


def download_root():
    """Return the resolved ``FILEMONITOR_ROOT``, creating it if needed.

    :raises ImproperlyConfigured: when the root cannot be created or written.
    """
    root = Path(settings.FILEMONITOR_ROOT).resolve()
    try:
        root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"FILEMONITOR_ROOT ({root}) cannot be created: {exc.strerror}. "
            "Set FILEMONITOR_ROOT to a writable directory."
        ) from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise ImproperlyConfigured(
            f"FILEMONITOR_ROOT ({root}) is not writable. "
            "Set FILEMONITOR_ROOT to a writable directory."
        )
    return root


def is_inside_root(path):
    """True when ``path``, with symlinks resolved, lies strictly inside the root."""
    if not path:
        return False
    root = Path(settings.FILEMONITOR_ROOT).resolve()
    resolved = Path(path).resolve()
    return resolved != root and resolved.is_relative_to(root)


def new_download_dir(prefix, parent=None):
    """Create a fresh folder (0755) under ``parent``, by default the root itself."""
    path = tempfile.mkdtemp(prefix=f"{prefix}-", dir=parent or download_root())
    os.chmod(path, DIR_MODE)
    return path


def remove_download_dir(path):
    """Remove a download folder, but only one that lies inside the root.

    :returns: True when something was removed.
    """
    if not is_inside_root(path):
        return False
    resolved = Path(path).resolve()
    if not resolved.is_dir():
        return False
    shutil.rmtree(resolved, ignore_errors=True)
    return True
