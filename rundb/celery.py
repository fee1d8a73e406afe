"""The Celery app (``celery -A rundb worker``), configured from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

app = Celery("rundb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender, **kwargs):
    # kombu's filesystem transport and Celery's file backend expect their folders to exist.
    options = sender.conf.broker_transport_options or {}
    folders = [options.get(key) for key in ("data_folder_in", "control_folder", "processed_folder")]
    backend = sender.conf.result_backend or ""
    if backend.startswith("file://"):
        folders.append(backend[len("file://") :])
    for folder in filter(None, folders):
        os.makedirs(folder, mode=0o755, exist_ok=True)
