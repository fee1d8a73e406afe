"""The Django admin for FileMonitor: browse, search, cancel and retry downloads."""

from django.contrib import admin, messages
from django.db import transaction

from . import downloads
from .models import FileMonitor
from .status import can_requeue

#: Only the tags are edited here: everything else belongs to the download (its task,
#: or the actions below), and changing it by hand would make the row lie.
READONLY_FIELDS = (
    "url", "status", "percent", "name", "local_dir", "size", "progress", "md5sum",
    "celery_task_id", "created", "updated",
)  # fmt: skip


@admin.register(FileMonitor)
class FileMonitorAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "url", "tags", "status", "percent", "created")
    list_display_links = ("id", "name")
    list_filter = ("status", "tags", "created")
    search_fields = ("url", "name", "tags")
    date_hierarchy = "created"
    ordering = ("-id",)
    list_per_page = 50
    fields = ("tags", *READONLY_FIELDS)
    readonly_fields = READONLY_FIELDS
    actions = ("cancel", "retry")

    @admin.display(description="progress", ordering="progress")
    def percent(self, monitor):
        value = monitor.percent_progress()
        return value if value == "..." else f"{value}%"

    def has_add_permission(self, request):
        # A new download starts from the API or `manage.py download`, which queue it.
        return False

    @admin.action(description="Cancel the selected downloads", permissions=["change"])
    def cancel(self, request, queryset):
        cancelled = skipped = 0
        with transaction.atomic():
            for monitor in queryset.select_for_update():
                if downloads.cancel_download(monitor):
                    cancelled += 1
                else:
                    skipped += 1
        self._report(request, cancelled, "cancelled", skipped, "not queued or running")

    @admin.action(description="Retry the selected downloads", permissions=["change"])
    def retry(self, request, queryset):
        queued = skipped = 0
        with transaction.atomic():
            for monitor in queryset.select_for_update():
                if can_requeue(monitor.status):
                    downloads.requeue_download(monitor)
                    queued += 1
                else:
                    skipped += 1
        self._report(request, queued, "queued again", skipped, "not failed or cancelled")

    def _report(self, request, done, verb, skipped, why):
        if done:
            self.message_user(request, f"{_rows(done)} {verb}.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{_rows(skipped)} left alone: {why}.", messages.WARNING)

    def delete_model(self, request, obj):
        # As a DELETE on the API: stop the download and remove its folder too.
        downloads.delete_monitor(obj)

    def delete_queryset(self, request, queryset):
        for monitor in queryset:
            downloads.delete_monitor(monitor)


def _rows(count):
    return f"{count} download{'s' if count != 1 else ''}"
