"""The ``v1`` API, mounted under ``/rundb/api/``."""

from tastypie.api import Api

from filemonitor.resources import FileMonitorResource

v1_api = Api(api_name="v1")
v1_api.register(FileMonitorResource())
