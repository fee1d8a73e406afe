"""The dashboard page: a thin shell; the browser does the rest through the REST API."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

#: Rows per page unless the page's own ``?limit=`` says otherwise (the API's default too).
PAGE_SIZE = 20


@never_cache
@login_required
def dashboard(request):
    """The live downloads dashboard (anonymous users go to the admin login first)."""
    user = request.user
    context = {
        "api_url": reverse(
            "api_dispatch_list", kwargs={"api_name": "v1", "resource_name": "filemonitor"}
        ),
        "page_size": PAGE_SIZE,
        "can_add": user.has_perm("filemonitor.add_filemonitor"),
        "can_change": user.has_perm("filemonitor.change_filemonitor"),
        "can_delete": user.has_perm("filemonitor.delete_filemonitor"),
    }
    return render(request, "filemonitor/dashboard.html", context)
