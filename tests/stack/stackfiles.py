"""Reading the deployment files as Docker and Compose do: .env files, ${...}, Dockerfile.

Small and strict on purpose: what these tests cannot parse is a test failure, not
something to guess about.
"""

import json
import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SETTINGS_DIR = REPO / "settings"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGNMENT = re.compile(rf"^({_NAME})=(.*)$")
_COMMENTED_ASSIGNMENT = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=(.*)$")
_INTERPOLATION = re.compile(rf"\$(?:(\$)|\{{({_NAME})(?:(:?[-?])([^}}]*))?\}}|({_NAME}))")
# os.environ.get("X"), os.environ["X"], os.getenv("X"), and settings' _env_*("X") helpers.
_SETTINGS_READ = re.compile(
    r"""(?:environ\.get|environ\.setdefault|environ|getenv|_env_\w+)\s*[\(\[]\s*["']([A-Z][A-Z0-9_]*)["']"""
)


def load_compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def read_env_file(path=ENV_EXAMPLE):
    """``(values, documented)``: the active ``NAME=value`` lines, and the names of the
    optional ones that appear only commented out (``# NAME=default``)."""
    values, documented = {}, set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if match := _COMMENTED_ASSIGNMENT.match(line):
                documented.add(match.group(1))
            continue
        match = _ASSIGNMENT.match(line)
        assert match, f"{path.name}: not a NAME=value line: {raw!r}"
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values, documented


class InterpolationError(ValueError):
    pass


def interpolate(value, env):
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
    ``${VAR?error}``, ``$VAR`` and ``$$``, in a string or in lists/dicts of them."""
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def substitute(match):
        dollar, name, operator, argument, bare = match.groups()
        if dollar:
            return "$"
        if bare:
            return env.get(bare, "")
        current = env.get(name)
        empty = current is None or (current == "" and operator and operator.startswith(":"))
        if operator in (":-", "-"):
            return argument if empty else current
        if operator in (":?", "?"):
            if empty:
                raise InterpolationError(f"{name}: {argument}")
            return current
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def referenced_variables(value):
    """Names used by ``${...}``/``$NAME`` anywhere in ``value`` (``$$`` escapes excluded)."""
    if isinstance(value, list):
        return set().union(*(referenced_variables(item) for item in value))
    if isinstance(value, dict):
        return set().union(*(referenced_variables(item) for item in value.values()))
    if not isinstance(value, str):
        return set()
    return {m.group(2) or m.group(5) for m in _INTERPOLATION.finditer(value) if not m.group(1)}


def settings_variables():
    """Every environment variable name the settings package reads."""
    names = set()
    for path in SETTINGS_DIR.rglob("*.py"):
        names.update(_SETTINGS_READ.findall(path.read_text()))
    return names


def dockerfile_instructions(path=DOCKERFILE):
    """``[(INSTRUCTION, arguments)]`` with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends in a continuation line"
    return instructions


def dockerfile_env(instructions):
    """The ``ENV NAME=value ...`` settings of the image."""
    env = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, sep, value = pair.partition("=")
                assert sep, f"ENV without '=': {arguments!r} (use ENV NAME=value)"
                env[name] = value
    return env


def exec_form(arguments):
    """The argv of a JSON (exec form) CMD/ENTRYPOINT, or None for the shell form."""
    try:
        argv = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    return argv if isinstance(argv, list) and all(isinstance(a, str) for a in argv) else None


def env_files(service):
    files = service.get("env_file") or []
    return [files] if isinstance(files, str) else list(files)


def volume_mounts(service):
    """``{target: source}`` of a service's short-syntax volumes."""
    mounts = {}
    for entry in service.get("volumes") or []:
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        source, target = entry.split(":")[:2]
        mounts[target] = source
    return mounts


def option_value(argv, name):
    """The value of ``--name=value`` or ``--name value`` in argv, or None."""
    for index, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
    return None


def replace_option(argv, name, value):
    """argv with ``--name``'s value replaced; fails when argv has no such option."""
    result, replaced, skip = [], False, False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith(f"{name}="):
            result.append(f"{name}={value}")
            replaced = True
        elif arg == name and index + 1 < len(argv):
            result += [name, value]
            replaced, skip = True, True
        else:
            result.append(arg)
    assert replaced, f"{name} not found in {argv}"
    return result
