"""Application config for filemonitor."""

from django.apps import AppConfig


class FileMonitorConfig(AppConfig):
    name = "filemonitor"
    verbose_name = "File monitor"

    def ready(self):
        from . import signals  # noqa: F401  (connects the API-key signal)
