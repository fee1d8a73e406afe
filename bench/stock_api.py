"""The baseline of the API benchmark: a STOCK tastypie ModelResource over the same table.

Nothing of ours: no custom serializer, authorization, ordering or validation. Basic
and API-key authentication as tastypie ships them (Basic costs one PBKDF2 per request
on both resources, so the API-key header is what the load rows send).
"""

from tastypie.authentication import (
    ApiKeyAuthentication,
    BasicAuthentication,
    MultiAuthentication,
)
from tastypie.authorization import Authorization
from tastypie.constants import ALL
from tastypie.resources import ModelResource

from filemonitor.models import FileMonitor

FIELDS = [field.name for field in FileMonitor._meta.fields]


class StockFileMonitorResource(ModelResource):
    class Meta:
        queryset = FileMonitor.objects.all()
        resource_name = "filemonitor"
        list_allowed_methods = ["get", "post", "put", "delete", "patch"]
        detail_allowed_methods = ["get", "post", "put", "delete", "patch"]
        authorization = Authorization()
        authentication = MultiAuthentication(BasicAuthentication(), ApiKeyAuthentication())
        filtering = dict.fromkeys(FIELDS, ALL)
        ordering = FIELDS
