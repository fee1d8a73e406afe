"""Fixtures for the security tests: cheap passwords, a sentinel outside the root, routing."""

import pytest


@pytest.fixture(autouse=True)
def _cheap_passwords(fast_passwords):
    """Every security test: fast password hashing (tests/conftest.py)."""


@pytest.fixture
def sentinel(tmp_path):
    """An empty folder outside the download root that nothing may ever write into."""
    folder = tmp_path / "sentinel"
    folder.mkdir()
    return folder


@pytest.fixture
def victim(tmp_path):
    """A file outside the download root whose content must never change."""
    path = tmp_path / "victim" / "precious.txt"
    path.parent.mkdir()
    path.write_text("keep me")
    return path
