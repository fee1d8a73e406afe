"""The ``filemonitor`` REST resource, as Torrent Suite's clients know it."""

import re
from contextlib import nullcontext
from urllib.parse import urlsplit

from django.core.exceptions import FieldError, ObjectDoesNotExist, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, re_path, resolve
from tastypie import fields, http
from tastypie.constants import ALL_WITH_RELATIONS
from tastypie.exceptions import (
    ApiFieldError,
    BadRequest,
    ImmediateHttpResponse,
    NotFound,
    UnsupportedFormat,
)
from tastypie.paginator import Paginator
from tastypie.resources import ModelResource
from tastypie.utils import trailing_slash

from . import downloads, rowcount
from .auth import SAFE_METHODS, ReadOpenWritePermitted, TorrentSuiteAuthentication
from .engine.naming import split_credentials
from .models import FileMonitor
from .schema import legacy_schema
from .serializers import FileMonitorSerializer
from .validation import (
    DATE_FIELDS,
    TEXT_FIELDS,
    aware_datetimes,
    check_collection,
    check_id,
    check_lookup_value,
    check_new_id,
    check_object,
    check_offset,
    check_ordering,
    clean_monitor,
)

#: The model's fields: Torrent Suite allowed filtering and ordering on each of them.
FIELD_NAMES = (
    "celery_task_id", "created", "id", "local_dir", "md5sum", "name",
    "progress", "size", "status", "tags", "updated", "url",
)  # fmt: skip
INTEGER_FIELDS = ("id", "progress", "size")
#: Lookups that compare a date-time field with date-times (not with a date or its parts).
DATETIME_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "in")
#: Lookups that compare a text field with one text value.
TEXT_LOOKUPS = ("exact", "iexact", "contains", "icontains", "startswith", "istartswith",
                "endswith", "iendswith", "regex", "iregex", "gt", "gte", "lt", "lte")  # fmt: skip
ALL_METHODS = ["get", "post", "put", "delete", "patch"]
#: An id in a URL: at most 18 digits, so any database can compare it (longer is a 404).
ID = r"\d{1,18}"
#: Client errors whose message tastypie would HTML-escape; we answer them as plain text.
CLIENT_ERRORS = (BadRequest, ApiFieldError, DjangoValidationError)


class BoundedPaginator(Paginator):
    """Tastypie's paginator, refusing offsets beyond what a database can skip (a 400).

    An unfiltered list's total_count comes from the trigger-kept counter (rowcount.py):
    COUNT(*) would read the whole table on every page.
    """

    def get_offset(self):
        return check_offset(super().get_offset())

    def get_count(self):
        total = rowcount.exact_total(self.objects)
        return super().get_count() if total is None else total


class FileMonitorResource(ModelResource):
    # Torrent Suite served these BigIntegerFields as JSON strings; clients rely on it.
    size = fields.CharField(attribute="size", null=True, default=None)
    progress = fields.CharField(attribute="progress", default=0)

    class Meta:
        queryset = FileMonitor.objects.all()
        resource_name = "filemonitor"
        list_allowed_methods = ALL_METHODS
        detail_allowed_methods = ALL_METHODS
        filtering = dict.fromkeys(FIELD_NAMES, ALL_WITH_RELATIONS)
        ordering = sorted(FIELD_NAMES)
        limit = 20
        max_limit = 1000
        paginator_class = BoundedPaginator
        serializer = FileMonitorSerializer()
        authentication = TorrentSuiteAuthentication()
        authorization = ReadOpenWritePermitted()

    # --- URLs and request handling -------------------------------------------------------

    def base_urls(self):
        """Tastypie's four URLs, with ids restricted to digits: any other id is a plain 404."""
        return [
            self._url("", "dispatch_list", "api_dispatch_list"),
            self._url("/schema", "get_schema", "api_get_schema"),
            self._url(f"/set/(?P<pk_list>{ID}(?:;{ID})*)", "get_multiple", "api_get_multiple"),
            self._url(f"/(?P<pk>{ID})", "dispatch_detail", "api_dispatch_detail"),
        ]

    def prepend_urls(self):
        return [
            self._url(f"/(?P<pk>{ID})/download", "dispatch_download", "api_filemonitor_download")
        ]

    def _url(self, tail, view, name):
        pattern = rf"^(?P<resource_name>{self._meta.resource_name}){tail}{trailing_slash}$"
        return re_path(pattern, self.wrap_view(view), name=name)

    def dispatch(self, request_type, request, **kwargs):
        """Every write is all or nothing; client errors come back as plain-text 400s."""
        try:
            with _write_transaction(request, request_type):
                return super().dispatch(request_type, request, **kwargs)
        except CLIENT_ERRORS as exc:
            return self.error_response(request, {"error": _error_text(exc)})
        except (SuspiciousOperation, MultiPartParserError):
            # Too large a body, too many form fields or a broken multipart body.
            return self.error_response(request, {"error": "The request body cannot be read."})

    def build_schema(self):
        return legacy_schema(super().build_schema())

    def deserialize(self, request, data, format="application/json"):
        """Parse a JSON body and check its shape: one object, or a list write's collection."""
        try:
            deserialized = super().deserialize(request, data, format)
        except UnsupportedFormat:
            raise BadRequest("The request body must be JSON (Content-Type: application/json).")
        except (UnicodeDecodeError, RecursionError):
            raise BadRequest("Request is not valid JSON.")
        if _is_list_write(request):
            for item in check_collection(deserialized)["objects"]:
                _check_same_id(item, _uri_id(item.get("resource_uri")))
            return deserialized
        data = check_object(deserialized)
        match = getattr(request, "resolver_match", None)
        if match and match.url_name == "api_dispatch_detail":
            _check_same_id(data, match.kwargs["pk"])
        if request.method.upper() == "PATCH":
            # Tastypie's patch_detail looks up self.fields[key] for every key the model has
            # as an attribute ("pk", "save"...): a KeyError. Other keys mean nothing anyway.
            data = {key: value for key, value in data.items() if key in self.fields}
        return data

    # --- reading ---------------------------------------------------------------------------

    def filter_value_to_python(self, value, field_name, filters, filter_expr, filter_type):
        raw = value
        value = super().filter_value_to_python(value, field_name, filters, filter_expr, filter_type)
        if isinstance(value, bool) and field_name in TEXT_FIELDS and filter_type in TEXT_LOOKUPS:
            # Tastypie reads "true"/"false" as booleans; in a text field they are words
            # (and PostgreSQL cannot take UPPER() of a boolean for iexact: a 500).
            value = raw
        value = check_lookup_value(filter_type, value, numeric=field_name in INTEGER_FIELDS)
        if field_name in DATE_FIELDS and filter_type in DATETIME_LOOKUPS:
            value = aware_datetimes(value)
        return value

    def obj_get_list(self, bundle, **kwargs):
        try:
            return super().obj_get_list(bundle, **kwargs)
        except (FieldError, TypeError, DjangoValidationError) as exc:
            raise BadRequest(f"Invalid filter: {_error_text(exc)}") from exc

    def apply_sorting(self, obj_list, options=None):
        """Sort by ``order_by`` (``-name`` descending); newest first when there is none."""
        if not options or "order_by" not in options:
            return obj_list.order_by("-id")
        check_ordering(options.getlist("order_by"))
        return super().apply_sorting(obj_list, options)

    # --- writing ---------------------------------------------------------------------------

    def full_hydrate(self, bundle):
        bundle = super().full_hydrate(bundle)
        clean_monitor(bundle.obj)
        # Credentials in a source URL are never stored or shown; the task gets them sealed.
        bundle.obj.url, bundle.source_auth = split_credentials(bundle.obj.url)
        return bundle

    def save(self, bundle, skip_errors=False):
        chosen_id = _client_chosen_id(bundle.obj)
        if getattr(bundle, "update_fields", None):
            # A PATCH saves only the fields it names; keep ``updated`` moving as before.
            bundle.update_fields.append("updated")
        bundle = super().save(bundle, skip_errors=skip_errors)
        if chosen_id:
            _reserve_id(chosen_id)
        return bundle

    def authorized_update_detail(self, object_list, bundle):
        # Tastypie takes any row with an id for an update; a PUT to a free id creates one.
        if bundle.obj._state.adding:
            return self.authorized_create_detail(object_list, bundle)
        return super().authorized_update_detail(object_list, bundle)

    def obj_create(self, bundle, **kwargs):
        bundle = super().obj_create(bundle, **kwargs)
        if not bundle.obj.status:
            downloads.queue_download(bundle.obj, auth=getattr(bundle, "source_auth", None))
        return bundle

    def obj_delete(self, bundle, **kwargs):
        """Delete one row through ``delete_monitor``: cancel its task, clean its folder."""
        if not isinstance(bundle.obj, FileMonitor):
            bundle.obj = self._get_or_404(bundle, kwargs["pk"])
        self.authorized_delete_detail(self.get_object_list(bundle.request), bundle)
        downloads.delete_monitor(bundle.obj)

    def obj_delete_list(self, bundle, **kwargs):
        monitors = self.authorized_delete_list(self.obj_get_list(bundle, **kwargs), bundle)
        for monitor in monitors:
            downloads.delete_monitor(monitor)

    def obj_delete_list_for_update(self, bundle, **kwargs):
        # PUT on the list replaces it: it changes the collection and deletes what was there.
        self.authorized_update_list(self.get_object_list(bundle.request), bundle)
        self.obj_delete_list(bundle, **kwargs)

    def patch_list(self, request, **kwargs):
        try:
            return super().patch_list(request, **kwargs)
        except NotFound as exc:
            raise BadRequest(str(exc)) from exc
        except ObjectDoesNotExist as exc:
            raise BadRequest("deleted_objects names a row that does not exist.") from exc

    def get_via_uri(self, uri, request=None):
        """The row a detail URI (relative or absolute) names; any other URI is NotFound."""
        path = _uri_path(uri)
        if path is None or not _is_detail_path(path, self._meta.resource_name):
            raise NotFound(f"{uri} is not the URI of a filemonitor row.")
        return super().get_via_uri(path, request)

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
        with transaction.atomic():
            downloads.requeue_download(bundle.obj)
        bundle = self.full_dehydrate(bundle)
        return self.create_response(request, bundle, response_class=http.HttpAccepted)

    def _get_or_404(self, bundle, pk):
        try:
            return self.obj_get(bundle, pk=pk)
        except FileMonitor.DoesNotExist:
            raise ImmediateHttpResponse(response=http.HttpNotFound())


def _write_transaction(request, request_type):
    """A transaction for a write, nothing for a read (SQLite locks at BEGIN IMMEDIATE).

    A detail PATCH gets none either: its one write is a single UPDATE of the fields it
    names, all or nothing by itself; BEGIN and COMMIT would only add two round trips
    (on PostgreSQL the row read before it is not held either way).
    """
    # Tastypie honours X-HTTP-Method-Override: a "GET" may really be a DELETE.
    method = request.META.get("HTTP_X_HTTP_METHOD_OVERRIDE", request.method)
    if method in SAFE_METHODS:
        return nullcontext()
    # Read the body now: tastypie parses form bodies as a stream, after which it is gone.
    request.body  # noqa: B018
    if request_type == "detail" and method.upper() == "PATCH":
        return nullcontext()
    return transaction.atomic()


def _is_detail_path(path, resource_name):
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return (
        match.url_name == "api_dispatch_detail"
        and match.kwargs.get("resource_name") == resource_name
    )


def _uri_path(uri):
    """The path of ``uri``, or None when it is not a URI at all (urlsplit may raise)."""
    try:
        return urlsplit(uri).path if isinstance(uri, str) else None
    except ValueError:  # e.g. "http://[::1"
        return None


def _uri_id(uri):
    """The id at the end of a detail URI (``.../filemonitor/7/``), or None."""
    match = re.search(rf"/({ID})/?$", _uri_path(uri) or "")
    return match[1] if match else None


def _check_same_id(data, pk):
    """Refuse a body whose ``id`` is not the row's own: tastypie would save the body
    over the row with *that* id (or create it), leaving the row the URI names alone."""
    if pk is not None and "id" in data and check_id(data["id"]) != int(pk):
        raise BadRequest("id must be the id of the row the URI names; it cannot be changed.")


def _is_list_write(request):
    match = getattr(request, "resolver_match", None)
    # Tastypie sets request.method from X-HTTP-Method-Override, in whatever case it came.
    return (
        request.method.upper() in ("PUT", "PATCH")
        and match
        and match.url_name == "api_dispatch_list"
    )


def _error_text(exc):
    if isinstance(exc, DjangoValidationError):
        text = " ".join(exc.messages)
    else:
        text = str(exc.args[0]) if exc.args else "Bad request."
    # Messages may quote the client's input, lone surrogates included: keep them printable.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _client_chosen_id(monitor):
    """The id a client picked for a new row (PUT to a free id, or ``id`` in the body)."""
    if not monitor._state.adding or monitor.pk is None:
        return None
    pk = check_new_id(monitor.pk)
    if FileMonitor.objects.filter(pk=pk).exists():
        raise BadRequest(f"id {pk} is already taken; use PUT or PATCH on it to change it.")
    return pk


def _reserve_id(pk):
    """Make sure the database never hands out ``pk`` again (PostgreSQL sequences don't know)."""
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT already moves past an explicit id.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(seq, GREATEST(%s, COALESCE(pg_sequence_last_value(seq), 0))) "
            "FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) AS s",
            [pk, FileMonitor._meta.db_table],
        )


def _absolute_location(request, response):
    # Tastypie 0.15 answers a relative Location; the original's was absolute.
    if response.has_header("Location"):
        response["Location"] = request.build_absolute_uri(response["Location"])
    return response
