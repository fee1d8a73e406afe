"""The engine stays plain Python, and its memory stays flat whatever the file size."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import filemonitor.engine

from .helpers import MIB

ENGINE_DIR = Path(filemonitor.engine.__file__).parent
REPO_ROOT = ENGINE_DIR.parent.parent
FORBIDDEN = {"django", "celery", "tastypie", "kombu"}


def _imported_top_levels(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_engine_sources_import_no_framework():
    sources = sorted(ENGINE_DIR.glob("*.py"))
    assert len(sources) >= 5
    for path in sources:
        assert not FORBIDDEN & set(_imported_top_levels(path)), path.name


def test_importing_the_engine_loads_no_framework():
    code = (
        "import sys, filemonitor.engine, filemonitor.engine.naming, filemonitor.engine.fetch\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_public_api_is_small():
    assert len(filemonitor.engine.__all__) < 10
    for name in filemonitor.engine.__all__:
        assert hasattr(filemonitor.engine, name)


MEMORY_PROBE = """
import resource, sys, tempfile
from filemonitor.engine import fetch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as dest:
    size = fetch(sys.argv[1], dest).size
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(size, (after - before) * 1024)
"""


def test_peak_memory_does_not_grow_with_the_file(server):
    size = 128 * MIB
    server.add("/big.bin", size=size)
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, server.url("/big.bin")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    fetched, growth = map(int, done.stdout.split())
    assert fetched == size
    assert growth < 64 * MIB
