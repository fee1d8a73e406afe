# syntax=docker/dockerfile:1
# The filemonitor app image, one for the web (gunicorn), worker (Celery) and flower
# services of docker-compose.yml. No secret is baked in: settings come from the
# environment at run time (docker compose: the .env file).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=settings \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    FILEMONITOR_ROOT=/data/downloads

RUN groupadd --system --gid 10001 filemonitor \
 && useradd --system --uid 10001 --gid filemonitor --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin filemonitor

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# WhiteNoise serves the static files collected here. Settings refuse to load without a
# secret key, so this one RUN gets a throwaway one (it is not kept in the image).
RUN DJANGO_SECRET_KEY=collectstatic-at-build-only FILEMONITOR_VAR_DIR=/tmp/build-var \
        python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/build-var \
 && mkdir -p /data/downloads \
 && chown filemonitor:filemonitor /data/downloads

# Named volumes mounted on /data/downloads start out owned by this user.
USER filemonitor:filemonitor
EXPOSE 8000
CMD ["gunicorn", "rundb.wsgi:application", "--bind", "0.0.0.0:8000", "--threads", "4", "--access-logfile", "-", "--worker-tmp-dir", "/dev/shm", "--no-control-socket"]
