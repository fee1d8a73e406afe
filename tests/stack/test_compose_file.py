"""docker-compose.yml, Dockerfile and .env.example agree with each other and with settings/.

Docker cannot run here; these checks read the files the way Compose and Docker do, and
test_native_stack.py then runs the very commands they declare.
"""

import re
from urllib.parse import urlsplit

import pytest
from celery.beat import NODENAME_DEFAULT as BEAT_NODENAME
from django.conf import settings as django_settings

from .stackfiles import (
    DOCKERIGNORE,
    REPO,
    dockerfile_env,
    dockerfile_instructions,
    env_files,
    exec_form,
    interpolate,
    load_compose,
    option_value,
    read_env_file,
    referenced_variables,
    settings_variables,
    volume_mounts,
)

APP_SERVICES = ("migrate", "web", "worker", "beat", "flower")
#: What production cannot run without: settings would fall back to dev defaults.
REQUIRED = {
    "DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
    "FILEMONITOR_ROOT", "DJANGO_ALLOWED_HOSTS", "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
    "FLOWER_BASIC_AUTH",
}  # fmt: skip
#: Variables that programs other than our settings read from the environment.
READ_BY_OTHERS = {
    "POSTGRES_DB": "the postgres image",
    "POSTGRES_USER": "the postgres image",
    "POSTGRES_PASSWORD": "the postgres image",
    "FLOWER_BASIC_AUTH": "Flower (FLOWER_* options)",
    "WEB_CONCURRENCY": "gunicorn (default --workers)",
}
#: Settings variables with no place in a deployment's .env.
NOT_FOR_DEPLOYMENT = {
    "DATABASE_TEST_NAME": "only the test suite's database name",
    "FILEMONITOR_VAR_DIR": "the embedded SQLite/filesystem-broker default, unused with compose",
}


@pytest.fixture(scope="module")
def compose():
    return load_compose()


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="module")
def example():
    return read_env_file()


@pytest.fixture(scope="module")
def env(example):
    return example[0]


@pytest.fixture(scope="module")
def dockerfile():
    return dockerfile_instructions()


def command(services, name, env):
    argv = interpolate(services[name]["command"], env)
    assert isinstance(argv, list), f"{name}: use the exec (list) form of command"
    return argv


# --- the services ---------------------------------------------------------------------


def test_the_services_and_their_images(services):
    assert set(services) == {"db", "redis", *APP_SERVICES}
    assert services["db"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == services["web"]["image"], name
        assert env_files(services[name]) == [".env"], f"{name} must read its settings from .env"


def test_every_long_running_service_has_a_healthcheck(services):
    for name in ("db", "redis", "web", "worker", "beat", "flower"):
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name} healthcheck has no {key}"
    assert "pg_isready" in services["db"]["healthcheck"]["test"][1]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_start_order_waits_for_healthy_dependencies(services):
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"


def test_named_volumes_for_the_database_and_the_shared_download_root(compose, services, env):
    named = set(compose["volumes"])
    assert volume_mounts(services["db"])["/var/lib/postgresql/data"] in named
    root = env["FILEMONITOR_ROOT"]
    web, worker = volume_mounts(services["web"]), volume_mounts(services["worker"])
    assert root in web and root in worker, f"web and worker must both mount {root}"
    assert web[root] == worker[root], "web and worker must share one download volume"
    assert web[root] in named, "the download root must be a named volume"


def test_migrate_runs_migrations_and_ensures_the_admin(services, env):
    argv = command(services, "migrate", env)
    assert argv[:2] == ["sh", "-c"]
    steps = [step.strip() for step in argv[2].split("&&")]
    assert steps == ["python manage.py migrate --noinput", "python manage.py ensure_admin --no-key"]


def test_web_is_gunicorn_serving_the_wsgi_app(services, env):
    argv = command(services, "web", env)
    assert argv[:2] == ["gunicorn", "rundb.wsgi:application"]
    assert option_value(argv, "--bind") == "0.0.0.0:8000"
    assert interpolate(services["web"]["ports"], env) == [f"{env['WEB_PORT']}:8000"]


def test_web_healthcheck_asks_healthz_on_an_allowed_host(services, env):
    test = " ".join(services["web"]["healthcheck"]["test"])
    match = re.search(r"http://([^:/]+):8000/healthz", test)
    assert match, test
    assert match.group(1) in env["DJANGO_ALLOWED_HOSTS"].split(","), (
        "the healthcheck's Host must be in DJANGO_ALLOWED_HOSTS or Django answers 400"
    )


def test_worker_is_a_celery_worker_with_events_and_pool_from_env(services, env):
    raw = services["worker"]["command"]
    assert {"FILEMONITOR_WORKER_POOL", "FILEMONITOR_WORKER_CONCURRENCY"} <= referenced_variables(
        raw
    )
    argv = command(services, "worker", env)
    assert argv[:4] == ["celery", "-A", "rundb", "worker"]
    assert "-E" in argv, "Flower shows tasks only from a worker that sends events"
    assert option_value(argv, "--pool") == env["FILEMONITOR_WORKER_POOL"]
    assert option_value(argv, "--concurrency") == env["FILEMONITOR_WORKER_CONCURRENCY"]
    other = interpolate(raw, {**env, "FILEMONITOR_WORKER_CONCURRENCY": "7"})
    assert option_value(other, "--concurrency") == "7"
    assert django_settings.CELERY_WORKER_SEND_TASK_EVENTS


def test_beat_is_the_one_clock_of_the_stale_sweep(services, env):
    argv = command(services, "beat", env)
    assert argv[:4] == ["celery", "-A", "rundb", "beat"]
    # The image's user may write only the download volume and /tmp.
    assert option_value(argv, "--schedule").startswith("/tmp/")
    for name in ("worker", "web", "flower"):
        other = command(services, name, env)
        assert "--beat" not in other and "-B" not in other, f"{name} must not run a second beat"
    assert "deploy" not in services["beat"], "one beat per deployment: never replicated"
    depends = services["beat"]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {"filemonitor.recover_stale"}


def test_beat_healthcheck_pings_beat_itself(services, env):
    # Beat answers `celery inspect ping` only with remote control on, as celerybeat@<host>
    # (not the worker's celery@<host>), and only while its scheduler ticks.
    assert "--enable-remote-control" in command(services, "beat", env)
    kind, test = services["beat"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert interpolate(test, {}) == (
        f'celery -A rundb inspect ping --destination "{BEAT_NODENAME}@${{HOSTNAME}}" --timeout 10'
    )


def test_flower_requires_basic_auth_from_env(services, env):
    argv = command(services, "flower", env)
    assert argv[:4] == ["celery", "-A", "rundb", "flower"]
    assert option_value(argv, "--port") == "5555"
    assert not any("basic" in arg for arg in argv), "keep the login off the command line"
    raw = services["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    assert raw.startswith("${FLOWER_BASIC_AUTH:?"), "compose must refuse to start without it"
    user, _, password = env["FLOWER_BASIC_AUTH"].partition(":")
    assert user and password
    with pytest.raises(ValueError, match="FLOWER_BASIC_AUTH"):
        interpolate(raw, {k: v for k, v in env.items() if k != "FLOWER_BASIC_AUTH"})
    assert interpolate(services["flower"]["ports"], env) == [f"{env['FLOWER_PORT']}:5555"]
    assert "localhost:5555/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])


def test_postgres_gets_only_its_own_settings(services, env):
    assert "env_file" not in services["db"], "the app's secrets have no business in db"
    assert set(services["db"]["environment"]) == {
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
    }
    assert interpolate(services["db"]["environment"], env) == {
        name: env[name] for name in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD")
    }


# --- .env.example against settings/ ---------------------------------------------------


def test_env_example_has_every_required_variable(env):
    missing = REQUIRED - set(env)
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_every_variable_in_env_example_is_read_by_something(example, compose):
    values, documented = example
    read = settings_variables() | set(READ_BY_OTHERS) | referenced_variables(compose)
    unused = (set(values) | documented) - read
    assert not unused, f"nothing reads {sorted(unused)} (typo, or a setting that is gone?)"


def test_every_setting_read_from_the_environment_is_documented(example, dockerfile):
    values, documented = example
    known = set(values) | documented | set(dockerfile_env(dockerfile)) | set(NOT_FOR_DEPLOYMENT)
    undocumented = settings_variables() - known
    assert not undocumented, (
        f"settings/ reads {sorted(undocumented)}: add them to .env.example "
        "(as '# NAME=default' when optional)"
    )


def test_every_compose_variable_is_defined_in_env_example(compose, env):
    undefined = referenced_variables(compose) - set(env)
    assert not undefined, f"docker-compose.yml uses ${{...}} of {sorted(undefined)}"


def test_env_example_points_at_the_compose_services(env):
    database = urlsplit(env["DATABASE_URL"])
    assert database.scheme in ("postgres", "postgresql")
    assert (database.hostname, database.port) == ("db", 5432)
    assert database.username == env["POSTGRES_USER"]
    assert database.password == env["POSTGRES_PASSWORD"]
    assert database.path == f"/{env['POSTGRES_DB']}"
    broker, backend = urlsplit(env["CELERY_BROKER_URL"]), urlsplit(env["CELERY_RESULT_BACKEND"])
    assert (broker.scheme, broker.hostname) == ("redis", "redis")
    assert (backend.scheme, backend.hostname) == ("redis", "redis")
    assert broker.path != backend.path, "broker and results in separate Redis databases"


def test_env_example_holds_placeholders_not_secrets(env):
    assert env["DJANGO_DEBUG"] == "off"
    for name in ("DJANGO_SECRET_KEY", "DJANGO_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD"):
        assert env[name].startswith("change-me"), name
    assert env["FLOWER_BASIC_AUTH"].split(":", 1)[1].startswith("change-me")
    assert ".env" in (REPO / ".gitignore").read_text().split(), ".env must stay out of git"


# --- Dockerfile and .dockerignore -------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_image(dockerfile):
    keywords = [keyword for keyword, _ in dockerfile]
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    runs = [arguments for keyword, arguments in dockerfile if keyword == "RUN"]
    assert any("pip install -r requirements.txt" in run for run in runs)
    user = [arguments for keyword, arguments in dockerfile if keyword == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "nothing may run as root after USER"


def test_dockerfile_bakes_in_no_secret(dockerfile):
    for keyword, arguments in dockerfile:
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|BASIC_AUTH", arguments), arguments
    collect = [a for k, a in dockerfile if k == "RUN" and "collectstatic" in a]
    assert len(collect) == 1
    # The dummy key is set for that one command only (VAR=value command), not with ENV.
    assert re.match(r"DJANGO_SECRET_KEY=\S+ (\S+=\S+ )*python manage.py collectstatic", collect[0])


def test_dockerfile_cmd_is_the_web_command_and_there_is_no_entrypoint(dockerfile, services, env):
    assert not [a for k, a in dockerfile if k == "ENTRYPOINT"]
    cmd = [a for k, a in dockerfile if k == "CMD"]
    assert len(cmd) == 1 and exec_form(cmd[0]) == command(services, "web", env)
    assert ("EXPOSE", "8000") in dockerfile


def test_image_environment_matches_the_deployment(dockerfile, env):
    image_env = dockerfile_env(dockerfile)
    assert image_env["DJANGO_SETTINGS_MODULE"] == "settings"
    assert image_env["FILEMONITOR_ROOT"] == env["FILEMONITOR_ROOT"]
    assert image_env["DJANGO_STATIC_ROOT"].startswith("/app/")
    # The download root exists in the image owned by the app user, so that a fresh named
    # volume mounted there starts out writable by it.
    runs = " ".join(a for k, a in dockerfile if k == "RUN")
    assert f"mkdir -p {env['FILEMONITOR_ROOT']}" in runs
    assert re.search(rf"chown \S+ {re.escape(env['FILEMONITOR_ROOT'])}", runs)
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in django_settings.MIDDLEWARE


def test_dockerignore_keeps_secrets_and_local_state_out(dockerfile):
    ignored = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()[:1] != "#"
    }
    assert {".env", ".git", ".venv", "var"} <= ignored
    requirements = (REPO / "requirements.txt").read_text()
    for package in ("gunicorn==", "flower==", "whitenoise==", "celery[redis]==", "psycopg["):
        assert package in requirements, f"the image runs {package.rstrip('=[')}"
