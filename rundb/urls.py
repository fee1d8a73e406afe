"""Site URLs."""

from django.contrib import admin
from django.urls import include, path

from . import health
from .api import v1_api

urlpatterns = [
    path("rundb/api/", include(v1_api.urls)),
    path("rundb/", include("filemonitor.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz),
]
