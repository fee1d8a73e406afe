"""The dashboard at /rundb/filemonitor/, driven in headless Chromium against a live server.

The page talks only to the REST API (fetch, session cookie, CSRF header), a real Celery
worker downloads from a real, throttled HTTP server on 127.0.0.1, and the test watches
the DOM: nothing here calls the page's JavaScript directly.
"""

import os
import re
import shutil

import pytest
from django.contrib.auth.models import Permission, User

from filemonitor.models import FileMonitor
from tests.conftest import API, REPO, make_user

# Playwright is a dev requirement; a missing Chromium skips in the ``browser`` fixture.
expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024
DASHBOARD = "/rundb/filemonitor/"
LOGIN = "/admin/login/"
README_SCREENSHOT = REPO / "docs" / "dashboard.png"


def log_in(page, base_url, path=DASHBOARD, username="boss", password="pw-boss"):
    """Open ``path`` anonymously, get sent to the admin login, log in, land back on it."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(re.escape(base_url + LOGIN) + r"\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page).to_have_url(base_url + path)
    expect(page.locator("#live")).to_have_attribute("data-state", "ok")


def add_download(page, url, *, name="", tags="", md5=""):
    """Fill the page's form and submit it; return the new row's id once the API has it."""
    page.fill("#add-url", url)
    page.fill("#add-name", name)
    page.fill("#add-tags", tags)
    page.fill("#add-md5", md5)
    page.click("#add-submit")
    expect(page.locator("#messages .message--ok").last).to_contain_text("Queued")
    expect(page.locator("#add-url")).to_have_value("")  # the form resets on success
    return FileMonitor.objects.get(url=url).pk


def row(page, pk):
    return page.locator(f'#rows tr[data-id="{pk}"]')


def rows_shown(page):
    """Ids of the rows on the page, top to bottom."""
    return [
        int(i) for i in page.locator("#rows tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    ]


def progress_value(page, pk, above, *, below=101.0, timeout=30_000):
    """Wait until row ``pk``'s progress bar shows a value in (above, below); return it."""
    handle = page.wait_for_function(
        """([pk, above, below]) => {
            const bar = document.querySelector(`#rows tr[data-id="${pk}"] [role=progressbar]`);
            const value = bar && parseFloat(bar.getAttribute("aria-valuenow"));
            return value > above && value < below ? value : false;
        }""",
        arg=[pk, above, below],
        timeout=timeout,
    )
    return handle.json_value()


def horizontal_overflow(page):
    """Elements sticking out to the right of the viewport (empty when nothing does)."""
    return page.evaluate(
        """() => {
            if (document.documentElement.scrollWidth <= window.innerWidth) return [];
            return [...document.querySelectorAll("body *")]
                .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)
                .concat([`scrollWidth ${document.documentElement.scrollWidth}`]);
        }"""
    )


def test_dashboard_follows_adds_retries_and_cancels_downloads(
    live_server, admin_user, celery_worker, file_server, page, artifacts
):
    log_in(page, live_server.url)
    expect(page.get_by_role("heading", name="Downloads", exact=True)).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("No downloads yet")
    # The stylesheet came from the app's static files (there are no external assets).
    assert page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius") == "12px"

    api_error_is_announced(page)
    late_pk = failed_download_is_highlighted_and_retried(page, file_server)
    missing_pk = add_download(page, file_server.url("/bed/AmpliSeqExome.20141113.bed.gz"))
    expect(row(page, missing_pk).locator(".status")).to_have_class(re.compile(r"\bis-error\b"))
    ref_pk = slow_download_advances_to_complete(page, file_server)
    assert rows_shown(page) == [ref_pk, missing_pk, late_pk]  # newest first

    # Another slow one: pictured (wide and narrow) while it runs, then cancelled.
    big_path = "/reference/GRCh38.p2.mask1.zip"
    file_server.add(big_path, size=64 * MiB, seed=33, throttle=2 * MiB)
    big_pk = add_download(page, file_server.url(big_path), tags="reference")
    expect(row(page, big_pk).locator(".rate")).to_have_text(re.compile(r"/s · .+ left"))
    expect(page.locator("#messages .message")).to_have_count(0, timeout=10_000)
    progress_value(page, big_pk, 12.0, below=100.0)
    page.mouse.move(0, 0)  # no hover effect in the picture
    page.screenshot(path=artifacts / "dashboard-wide.png", full_page=True)
    narrow_screen_has_cards_and_no_overflow(page, big_pk, artifacts)
    cancel_from_the_keyboard(page, big_pk)

    assert (artifacts / "dashboard-wide.png").stat().st_size < 300_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):  # refresh the README's picture on request only
        shutil.copyfile(artifacts / "dashboard-wide.png", README_SCREENSHOT)


def api_error_is_announced(page):
    """The API's {"error": ...} for a bad URL shows in the aria-live region."""
    page.fill("#add-url", "ftp://downloads.example.org/reference.zip")
    page.click("#add-submit")
    error = page.locator("#messages .message--error")
    expect(error).to_contain_text("url must be an absolute http:// or https:// URL")
    assert page.get_attribute("#messages", "aria-live") == "polite"
    assert not FileMonitor.objects.exists()
    error.get_by_role("button", name="Dismiss message").click()
    expect(error).to_have_count(0)


def failed_download_is_highlighted_and_retried(page, file_server):
    """A 404 is shown as an error; once the file exists, Retry brings it to Complete."""
    path = "/plugins/variantCaller_5.22.tar.gz"
    pk = add_download(page, file_server.url(path), tags="plugin")
    late = row(page, pk)
    expect(late.locator(".status")).to_have_text("HTTP Error: Not Found")
    expect(late.locator(".status")).to_have_class(re.compile(r"\bis-error\b"))
    expect(late).to_have_class(re.compile(r"\brow--failed\b"))
    resource = file_server.add(path, size=300 * 1024, seed=31)
    late.get_by_role("button", name=re.compile("^Retry")).click()
    expect(late.locator(".status")).to_have_text("Complete")
    expect(late.locator(".md5")).to_have_text(resource.md5)
    expect(late.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
    return pk


def slow_download_advances_to_complete(page, file_server):
    """The bar advances between two reads, speed and ETA show, then 100% and the md5."""
    path = "/reference/hg19.fasta.zip"
    resource = file_server.add(path, size=8 * MiB, seed=32, throttle=3 * MiB // 2)
    pk = add_download(page, file_server.url(path), tags="reference, hg19", md5=resource.md5)
    ref = row(page, pk)
    first = progress_value(page, pk, 0.0, below=100.0)
    second = progress_value(page, pk, first)
    assert 0 < first < second <= 100
    expect(ref.locator(".rate")).to_have_text(re.compile(r"^[\d.]+ (KiB|MiB)/s · .+ left$"))
    expect(ref.locator(".status")).to_have_text("Complete", timeout=60_000)
    expect(ref.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100.0")
    expect(ref.locator(".percent")).to_have_text("100%")
    expect(ref.locator(".md5")).to_have_text(resource.md5)
    expect(ref.locator(".col-size")).to_have_text("8.0 MiB")
    expect(ref.locator(".tag")).to_have_text(["reference", "hg19"])
    return pk


def narrow_screen_has_cards_and_no_overflow(page, pk, artifacts):
    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.locator("#downloads thead")).to_have_css("position", "absolute")
    assert page.evaluate("getComputedStyle(document.querySelector('#rows tr')).display") == "flex"
    expect(row(page, pk).get_by_role("button", name=re.compile("^Cancel"))).to_be_visible()
    page.screenshot(path=artifacts / "dashboard-narrow.png", full_page=True)
    assert horizontal_overflow(page) == []
    page.set_viewport_size({"width": 1280, "height": 860})


def cancel_from_the_keyboard(page, pk):
    """Tab from the tag filter to the row's Cancel button, Enter, Tab, Enter: it is gone."""
    page.focus("#filter-tag")
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "[document.activeElement.dataset.action, document.activeElement.dataset.id]"
        )
        if focused == ["cancel", str(pk)]:
            break
    else:
        pytest.fail("Tab never reached the Cancel button of the running download")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-keep")).to_be_focused()  # the safe choice comes first
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-ok")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, pk)).to_have_count(0)
    expect(page.locator("#confirm")).to_be_hidden()
    expect(page.locator("#messages .message--ok")).to_contain_text("Cancelled GRCh38.p2.mask1.zip")
    status = page.evaluate(
        "async (url) => (await fetch(url, {headers: {Accept: 'application/json'}})).status",
        f"{API}{pk}/",
    )
    assert status == 404
    assert not FileMonitor.objects.filter(pk=pk).exists()
    # Focus did not fall off the page with the row: it moved to a neighbour.
    assert page.evaluate("document.activeElement.closest('tr') !== null")


def test_dashboard_filters_and_pages(live_server, admin_user, page, artifacts):
    """Filters and pages re-query the API; rows made directly in the database, no worker."""
    rows = [
        ("http://mirror.example.org/ref/hg19.zip", "Complete", "reference", 3 * MiB),
        ("http://mirror.example.org/bed/exome.bed", "HTTP Error: Not Found", "bedfile", None),
        ("http://mirror.example.org/ref/GRCh38.zip", "Complete", "reference", 900 * MiB),
        ("http://mirror.example.org/bed/panel.bed", "Connection Lost", "bedfile", 2 * MiB),
        ("http://mirror.example.org/ref/mm10.zip", "Complete", "reference", 12 * 1024),
    ]
    pks = []
    for url, status, tags, size in rows:
        monitor = FileMonitor.objects.create(
            url=url, status=status, tags=tags, size=size, progress=size or 0,
            md5sum="0123456789abcdef0123456789abcdef" if status == "Complete" else None,
        )  # fmt: skip
        pks.append(monitor.pk)
    newest_first = pks[::-1]

    log_in(page, live_server.url, DASHBOARD + "?limit=2")
    shown = page.locator("#rows tr")

    expect(page.locator("#range")).to_have_text("1–2 of 5")
    assert rows_shown(page) == newest_first[:2]
    expect(page.locator("#prev")).to_be_disabled()
    page.click("#next")
    expect(page.locator("#range")).to_have_text("3–4 of 5")
    assert rows_shown(page) == newest_first[2:4]
    page.click("#next")
    expect(page.locator("#range")).to_have_text("5–5 of 5")
    expect(page.locator("#next")).to_be_disabled()
    page.click("#prev")
    expect(page.locator("#range")).to_have_text("3–4 of 5")

    # Status "Failed" is every error, including the legacy "Connection Lost".
    page.select_option("#filter-status", "failed")
    expect(page.locator("#range")).to_have_text("1–2 of 2")
    assert sorted(rows_shown(page)) == sorted([pks[1], pks[3]])
    expect(shown.locator(".status.is-error")).to_have_count(2)
    assert "status=failed" in page.url

    page.select_option("#filter-status", "Complete")
    page.fill("#filter-tag", "refer")
    expect(page.locator("#range")).to_have_text("1–2 of 3")
    page.fill("#filter-tag", "bed")
    expect(page.locator("#empty")).to_have_text("No downloads match these filters.")
    expect(shown).to_have_count(0)

    # A tag chip filters by its tag.
    page.select_option("#filter-status", "")
    page.fill("#filter-tag", "")
    expect(page.locator("#range")).to_have_text("1–2 of 5")
    shown.first.locator(".tag", has_text="reference").click()
    expect(page.locator("#filter-tag")).to_have_value("reference")
    expect(page.locator("#range")).to_have_text("1–2 of 3")

    # The API outside the page keeps working beside it.
    assert page.evaluate(f"fetch('{API}?limit=1').then(r => r.status)") == 200


def test_dashboard_needs_login_and_hides_what_the_user_may_not_do(client, admin_user):
    """Anonymous: sent to the admin login. A read-only staff user gets no form or buttons."""
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={DASHBOARD}"

    reader = make_user("viewer")
    User.objects.filter(pk=reader.pk).update(is_staff=True)
    client.force_login(reader)
    page = client.get(DASHBOARD).content.decode()
    assert 'id="add-form"' not in page
    assert 'data-can-delete="false"' in page and 'data-can-change="false"' in page

    reader.user_permissions.add(Permission.objects.get(codename="add_filemonitor"))
    page = client.get(DASHBOARD).content.decode()
    assert 'id="add-form"' in page
    assert client.get(API, HTTP_ACCEPT="application/json").status_code == 200
