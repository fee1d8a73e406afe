"""The Torrent Suite site: URLs, API registration, Celery app, WSGI."""

from .celery import app as celery_app

__all__ = ["celery_app"]
