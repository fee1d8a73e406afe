"""Source credentials never travel in clear: not in task messages, not in the API."""

import json

import pytest
from celery.signals import before_task_publish

from filemonitor.sealing import is_sealed, seal, unseal
from filemonitor.tasks import download_something
from rundb.celery import app


def test_seal_round_trip():
    sealed = seal(("alice", "s3cret"))
    assert is_sealed(sealed) and "s3cret" not in sealed and "alice" not in sealed
    assert unseal(sealed) == ("alice", "s3cret")
    assert seal(None) is None and unseal(None) is None


def test_token_from_another_key_is_refused(settings):
    sealed = seal(("alice", "s3cret"))
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    with pytest.raises(ValueError, match="SECRET_KEY"):
        unseal(sealed)


UNCONSUMED_QUEUE = "filemonitor-tests-unconsumed"


@pytest.fixture
def published():
    """Every task message as it leaves for the broker (headers and body).

    The messages go to a queue no worker reads, purged afterwards.
    """
    messages = []

    def capture(sender=None, body=None, headers=None, **kwargs):
        messages.append(json.dumps({"body": body, "headers": headers}, default=str))

    before_task_publish.connect(capture, weak=False)
    yield messages
    before_task_publish.disconnect(capture)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(UNCONSUMED_QUEUE)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"url": "http://h/f", "download_monitor_pk": 1, "auth": ("alice", "s3cret")}),
        (("http://h/f", 1, None, "", ("alice", "s3cret")), {}),
        ((), {"url": "http://alice:s3cret@h/f", "download_monitor_pk": 1}),
    ],
)
def test_task_messages_carry_credentials_sealed(published, args, kwargs):
    """Whether given as ``auth`` or in the URL, credentials leave the caller sealed."""
    download_something.apply_async(args, kwargs, queue=UNCONSUMED_QUEUE)
    assert len(published) == 1
    assert "s3cret" not in published[0]
    assert "alice" not in published[0]
    assert "sealed:" in published[0]
