# The application image: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HTSD_INSTANCE_PATH=/data/instance
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client fonts-dejavu-core \
    libpango-1.0-0 libpangoft2-1.0-0 libicu72 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
# PyICU (Vietnamese collation) compiles against ICU's headers: the build tools leave again
RUN apt-get update \
 && apt-get install -y --no-install-recommends libicu-dev pkg-config g++ \
 && pip install -r requirements.txt \
 && apt-get purge -y --auto-remove libicu-dev pkg-config g++ \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN useradd --create-home --uid 1000 htsd && mkdir -p /data/instance \
 && chown -R htsd /data
USER htsd
EXPOSE 8000
# no gunicorn access log: the app writes one JSON line per request (method, path, status, ms,
# user, address, request id: htsd_workflow/core/logging.py), so it would say the same twice.
# 5 workers: gunicorn's advice of 2 × cores + 1 for a 2-core server (more cores, more workers);
# bench/README.md, "4 clients: connections piling onto one worker", has the measurements
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "5", "--threads", "4", \
     "htsd_workflow.wsgi:app"]
