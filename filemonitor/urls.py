"""The app's pages, mounted under ``/rundb/`` (the API lives beside them at ``/rundb/api/``)."""

from django.urls import path

from . import views

app_name = "filemonitor"

urlpatterns = [
    path("filemonitor/", views.dashboard, name="dashboard"),
]
