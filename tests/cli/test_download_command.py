"""``manage.py download``: validation, queueing, and ``--wait`` against a real worker."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from filemonitor.management.commands.download import ProgressDisplay, human_bytes
from filemonitor.models import FileMonitor
from tests.conftest import REPO, worker_env

MiB = 1024 * 1024


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("download", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.mark.django_db
def test_queues_a_row_and_prints_its_id_alone_on_the_first_line():
    out = run("http://example.org/ref/genome.zip", "--tags", "reference", "--name", "g.zip")
    pk = int(out.splitlines()[0])
    row = FileMonitor.objects.get(pk=pk)
    assert row.status == "Queued"
    assert row.celery_task_id
    assert (row.url, row.tags, row.name) == (
        "http://example.org/ref/genome.zip",
        "reference",
        "g.zip",
    )


@pytest.mark.django_db
def test_credentials_in_the_url_are_not_stored():
    pk = int(run("http://joe:secret@example.org/a.bin").splitlines()[0])
    assert FileMonitor.objects.get(pk=pk).url == "http://example.org/a.bin"


@pytest.mark.django_db
def test_expected_md5_is_stored_lowercase():
    pk = int(run("http://example.org/a.bin", "--md5", "A" * 32).splitlines()[0])
    assert FileMonitor.objects.get(pk=pk).md5sum == "a" * 32


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["ftp://example.org/a.bin"], "url must be an absolute http:// or https:// URL"),
        (["not a url"], "url must be an absolute http:// or https:// URL"),
        (["http://example.org/a.bin", "--md5", "xyz"], "md5sum must be 32 hexadecimal"),
        (["http://example.org/a.bin", "--name", "../etc/passwd"], "name must be a plain file"),
    ],
)
def test_bad_input_is_a_command_error_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not FileMonitor.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_wait_follows_to_complete_and_prints_path_and_md5(celery_worker, file_server):
    resource = file_server.add("/cli/ok.bin", size=3 * MiB, seed=21, throttle=MiB)
    out = run(file_server.url("/cli/ok.bin"), "--wait", "--tags", "cli")
    lines = out.splitlines()
    pk = int(lines[0])
    row = FileMonitor.objects.get(pk=pk)
    assert row.status == "Complete"
    assert lines[-2] == f"Complete: {Path(row.local_dir) / 'ok.bin'}"
    assert lines[-1] == f"md5: {resource.md5}"
    assert row.md5sum == resource.md5
    assert Path(row.local_dir, "ok.bin").stat().st_size == 3 * MiB
    # Not a terminal: plain lines (no carriage returns), about one a second while it runs.
    progress = lines[1:-2]
    assert "\r" not in out
    speed = re.compile(r"^Downloading .* [1-9][0-9.]* (KiB|MiB)/s  ETA 0:0[0-9]$")
    assert any(speed.match(line) for line in progress), out
    assert progress[-1].startswith("Complete") and "100.0%" in progress[-1], out
    assert 2 <= len(progress) <= 12, out


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_wait_on_a_404_raises_with_the_status(celery_worker, file_server):
    with pytest.raises(CommandError, match="^HTTP Error: Not Found$"):
        run(file_server.url("/cli/missing.bin"), "--wait")
    assert FileMonitor.objects.get().status == "HTTP Error: Not Found"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_wait_failure_exits_non_zero_from_the_shell(celery_worker, file_server):
    """The real command line: exit status 1 and the status text on stderr."""
    result = subprocess.run(
        [sys.executable, "manage.py", "download", file_server.url("/cli/gone.bin"), "--wait"],
        cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "HTTP Error: Not Found" in result.stderr
    assert int(result.stdout.splitlines()[0]) == FileMonitor.objects.get().pk


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_display_redraws_one_line_with_speed_and_eta():
    now = [100.0]
    terminal = FakeTerminal()
    out = OutputWrapper(terminal)
    display = ProgressDisplay(out, tty=out.isatty(), clock=lambda: now[0])
    display.show("Queued", 0, None)
    display.show("Downloading", 0, 10 * MiB)
    now[0] += 2
    display.show("Downloading", 4 * MiB, 10 * MiB)
    display.close()
    text = terminal.getvalue()
    assert "\n" not in text.rstrip("\n") and text.endswith("\n")
    frames = text.rstrip("\n").split("\r")[1:]
    assert len(frames) == 3
    assert frames[0].startswith("Queued")
    assert "40.0%" in frames[2] and "4.0 MiB / 10.0 MiB" in frames[2]
    assert "2.0 MiB/s" in frames[2] and "ETA 0:03" in frames[2]
    assert "#" * 9 + "." in frames[2]


def test_log_display_writes_a_line_per_second_and_on_status_change():
    now = [0.0]
    stream = io.StringIO()
    display = ProgressDisplay(OutputWrapper(stream), tty=False, clock=lambda: now[0])
    for step in range(9):  # four polls a second for two seconds
        display.show("Downloading", step * MiB, 100 * MiB)
        now[0] += 0.25
    display.show("Complete", 100 * MiB, 100 * MiB)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines  # t=0, t=1, t=2, and the change to Complete
    assert lines[-1].startswith("Complete") and "100.0%" in lines[-1]
    assert "4.0 MiB/s" in lines[1]  # a mebibyte a quarter second
    assert "/s" not in lines[-1] and "ETA" not in lines[-1]  # speed only while downloading


@pytest.mark.parametrize(
    "count, text",
    [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * MiB, "3.0 MiB")],
)
def test_human_bytes(count, text):
    assert human_bytes(count) == text
