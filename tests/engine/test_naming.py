"""Unit tests for engine.naming: safe names, Content-Disposition, URL credentials."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filemonitor.engine.naming import (
    DEFAULT_NAME,
    MAX_NAME_BYTES,
    filename_from_disposition,
    is_plain_name,
    redact_url,
    resolve_name,
    safe_basename,
    split_credentials,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../evil", "evil"),
        ("/etc/passwd", "passwd"),
        ("a\\b", "b"),
        ("C:\\Users\\me\\file.txt", "file.txt"),
        ("dir/sub/", DEFAULT_NAME),
        ("..", DEFAULT_NAME),
        (".", DEFAULT_NAME),
        ("...", DEFAULT_NAME),
        ("", DEFAULT_NAME),
        (None, DEFAULT_NAME),
        (".bashrc", ".bashrc"),
        ("bad\x00name", "badname"),
        ("bad\x01\x1f\x7fname.txt", "badname.txt"),
        ("line\nbreak", "linebreak"),
        ("  padded.txt  ", "padded.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("lone\udc80surrogate", "lonesurrogate"),
        ("na\u00efve caf\u00e9.txt", "na\u00efve caf\u00e9.txt"),
        ("with space.tar.gz", "with space.tar.gz"),
    ],
)
def test_safe_basename(raw, expected):
    assert safe_basename(raw) == expected


def test_safe_basename_default_is_the_callers():
    assert safe_basename("..", default="") == ""


def test_long_name_is_cut_to_the_byte_limit_keeping_the_extension():
    name = safe_basename("x" * 300 + ".tar.gz")
    assert len(name.encode()) == MAX_NAME_BYTES
    assert name.endswith("x.gz")


def test_long_multibyte_name_is_cut_on_a_character_boundary():
    name = safe_basename("\u00e9" * 200 + ".txt")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith("\u00e9.txt")
    name.encode().decode()  # still valid UTF-8


def test_long_name_without_extension():
    assert safe_basename("y" * 400) == "y" * MAX_NAME_BYTES


def test_sidecar_names_fit_in_name_max():
    assert len((safe_basename("z" * 999) + ".part.meta").encode()) <= 255


@pytest.mark.parametrize("name", ["file.bin", "a b.txt", ".hidden", "na\u00efve.txt"])
def test_plain_names(name):
    assert is_plain_name(name)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "a\\b", "x\x00", " lead", "trail ", "z" * 300, None, 7],
)
def test_names_that_are_not_plain(name):
    assert not is_plain_name(name)


@given(st.text())
def test_safe_basename_properties(raw):
    name = safe_basename(raw)
    assert name
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name.strip(".")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_basename(name) == name
    assert is_plain_name(name)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="quoted name.txt"', "quoted name.txt"),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("attachment; FILENAME=upper.txt", "upper.txt"),
        ("attachment; filename*=UTF-8''na%C3%AFve.txt", "na\u00efve.txt"),
        ("attachment; filename*=utf-8'en'a%20b.txt", "a b.txt"),
        ("attachment; filename*=ISO-8859-1''caf%E9.txt", "caf\u00e9.txt"),
        ("attachment; filename=\"fallback.txt\"; filename*=UTF-8''best.txt", "best.txt"),
        ("attachment; filename*=UTF-8''best.txt; filename=\"fallback.txt\"", "best.txt"),
        ("attachment; filename*=KOI8-R''x.txt; filename=ok.txt", "ok.txt"),
        ('attachment; filename="esc\\"aped.txt"', 'esc"aped.txt'),
        ('attachment; filename="a\\b"', "a\\b"),
        ('attachment; filename="a;b.txt"', "a;b.txt"),
        (
            'attachment; filename="na\u00c3\u00afve.txt"',
            "na\u00efve.txt",
        ),  # raw UTF-8 seen as Latin-1
        ("filename=no-type.txt", "no-type.txt"),
        ("attachment", None),
        ("inline; name=x", None),
        ("", None),
        (None, None),
    ],
)
def test_filename_from_disposition(header, expected):
    assert filename_from_disposition(header) == expected


@pytest.mark.parametrize(
    ("disposition", "url", "expected"),
    [
        ('attachment; filename="cd.txt"', "http://h/path/url.txt", "cd.txt"),
        ('attachment; filename=".."', "http://h/path/url.txt", "url.txt"),
        (None, "http://h/some%20file.bin?x=1#frag", "some file.bin"),
        (None, "http://h/a%2Fb", "b"),
        (None, "http://h/dir/", DEFAULT_NAME),
        (None, "http://h", DEFAULT_NAME),
    ],
)
def test_resolve_name(disposition, url, expected):
    assert resolve_name(disposition, url) == expected


@pytest.mark.parametrize(
    ("url", "bare", "auth"),
    [
        ("http://u:p@h/x", "http://h/x", ("u", "p")),
        ("https://u%40x:p%3Aw@h:8080/x?q=1", "https://h:8080/x?q=1", ("u@x", "p:w")),
        ("http://u:p@ss@h/x", "http://h/x", ("u", "p@ss")),
        ("http://user@h/x", "http://h/x", ("user", "")),
        ("http://@h/x", "http://h/x", None),
        ("http://h/x@y", "http://h/x@y", None),
        ("http://h/x", "http://h/x", None),
        ("http://[::1", "http://[::1", None),
        (None, None, None),
    ],
)
def test_split_credentials(url, bare, auth):
    assert split_credentials(url) == (bare, auth)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:secret@h/x", "http://***@h/x"),
        ("http://h/x?token=abc&page=2", "http://h/x?token=***&page=2"),
        ("http://h/x?X-Amz-Signature=abc&X-Amz-Credential=d", "http://h/x?X-Amz-Signature=***&X-Amz-Credential=***"),
        ("http://h/x?api_key=1&password=2", "http://h/x?api_key=***&password=***"),
        ("http://h/plain?a=1", "http://h/plain?a=1"),
        ("http://[::1", "<unparseable URL>"),
        (None, "<unparseable URL>"),
    ],
)  # fmt: skip
def test_redact_url(url, expected):
    assert redact_url(url) == expected
