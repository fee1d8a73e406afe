"""The ``filemonitor`` REST resource, as Torrent Suite's clients know it."""

from django.core.exceptions import FieldError
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import re_path
from tastypie import fields, http
from tastypie.constants import ALL_WITH_RELATIONS
from tastypie.exceptions import BadRequest, ImmediateHttpResponse, UnsupportedFormat
from tastypie.resources import ModelResource
from tastypie.utils import trailing_slash

from . import downloads
from .auth import ReadOpenWritePermitted, TorrentSuiteAuthentication
from .engine.naming import split_credentials
from .models import FileMonitor
from .schema import legacy_schema
from .serializers import FileMonitorSerializer
from .validation import clean_monitor

FIELD_NAMES = (
    "celery_task_id", "created", "id", "local_dir", "md5sum", "name",
    "progress", "size", "status", "tags", "updated", "url",
)  # fmt: skip
ALL_METHODS = ["get", "post", "put", "delete", "patch"]


class FileMonitorResource(ModelResource):
    # Torrent Suite served these BigIntegerFields as JSON strings; clients rely on it.
    size = fields.CharField(attribute="size", null=True, default=None)
    progress = fields.CharField(attribute="progress", default=0)

    class Meta:
        queryset = FileMonitor.objects.all()
        resource_name = "filemonitor"
        list_allowed_methods = ALL_METHODS
        detail_allowed_methods = ALL_METHODS
        filtering = dict.fromkeys(FIELD_NAMES + ("resource_uri",), ALL_WITH_RELATIONS)
        ordering = sorted(FIELD_NAMES + ("resource_uri",))
        limit = 20
        max_limit = 1000
        serializer = FileMonitorSerializer()
        authentication = TorrentSuiteAuthentication()
        authorization = ReadOpenWritePermitted()

    def prepend_urls(self):
        return [
            re_path(
                rf"^(?P<resource_name>{self._meta.resource_name})/(?P<pk>\d+)/download{trailing_slash}$",
                self.wrap_view("dispatch_download"),
                name="api_filemonitor_download",
            )
        ]

    def build_schema(self):
        return legacy_schema(super().build_schema())

    def deserialize(self, request, data, format="application/json"):
        try:
            deserialized = super().deserialize(request, data, format)
        except UnsupportedFormat:
            raise BadRequest("The request body must be JSON (Content-Type: application/json).")
        if not isinstance(deserialized, dict):
            raise BadRequest("The request body must be a JSON object.")
        return deserialized

    def full_hydrate(self, bundle):
        bundle = super().full_hydrate(bundle)
        clean_monitor(bundle.obj)
        # Credentials in a source URL are never stored or shown; the task gets them sealed.
        bundle.obj.url, bundle.source_auth = split_credentials(bundle.obj.url)
        return bundle

    def apply_sorting(self, obj_list, options=None):
        if options and "order_by" in options:
            return super().apply_sorting(obj_list, options)
        return obj_list.order_by("-id")

    def apply_filters(self, request, applicable_filters):
        try:
            return super().apply_filters(request, applicable_filters)
        except (FieldError, ValueError, TypeError, DjangoValidationError) as exc:
            raise BadRequest(f"Invalid filter: {exc}") from exc

    def save(self, bundle, skip_errors=False):
        if getattr(bundle, "update_fields", None):
            # A PATCH saves only the fields it names; keep ``updated`` moving as before.
            bundle.update_fields.append("updated")
        return super().save(bundle, skip_errors=skip_errors)

    def obj_create(self, bundle, **kwargs):
        bundle = super().obj_create(bundle, **kwargs)
        if not bundle.obj.status:
            downloads.queue_download(bundle.obj, auth=getattr(bundle, "source_auth", None))
        return bundle

    def obj_delete(self, bundle, **kwargs):
        if not hasattr(bundle.obj, "delete"):
            bundle.obj = self.obj_get(bundle=bundle, **kwargs)
        self.authorized_delete_detail(self.get_object_list(bundle.request), bundle)
        downloads.delete_monitor(bundle.obj)

    def obj_delete_list(self, bundle, **kwargs):
        monitors = self.authorized_delete_list(self.obj_get_list(bundle, **kwargs), bundle)
        for monitor in monitors:
            downloads.delete_monitor(monitor)

    def post_list(self, request, **kwargs):
        return _absolute_location(request, super().post_list(request, **kwargs))

    def put_detail(self, request, **kwargs):
        return _absolute_location(request, super().put_detail(request, **kwargs))

    def dispatch_download(self, request, **kwargs):
        """``POST <id>/download/``: queue a failed or cancelled download again."""
        self.method_check(request, allowed=["post"])
        self.is_authenticated(request)
        self.throttle_check(request)
        bundle = self.build_bundle(request=request)
        bundle.obj = self._get_or_404(bundle, kwargs["pk"])
        self.authorized_update_detail(self.get_object_list(request), bundle)
        downloads.requeue_download(bundle.obj)
        bundle = self.full_dehydrate(bundle)
        return self.create_response(request, bundle, response_class=http.HttpAccepted)

    def _get_or_404(self, bundle, pk):
        try:
            return self.obj_get(bundle, pk=pk)
        except FileMonitor.DoesNotExist:
            raise ImmediateHttpResponse(response=http.HttpNotFound())


def _absolute_location(request, response):
    # Tastypie 0.15 answers a relative Location; the original's was absolute.
    if response.has_header("Location"):
        response["Location"] = request.build_absolute_uri(response["Location"])
    return response
