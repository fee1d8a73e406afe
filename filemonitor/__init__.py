"""FileMonitor: files downloaded over HTTP by Celery workers, tracked row by row."""
