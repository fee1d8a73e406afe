"""URLs of the stock baseline: the same /rundb/api/v1/filemonitor/ path, stock resource."""

from django.urls import include, path
from tastypie.api import Api

from .stock_api import StockFileMonitorResource

stock_api = Api(api_name="v1")
stock_api.register(StockFileMonitorResource())

urlpatterns = [path("rundb/api/", include(stock_api.urls))]
