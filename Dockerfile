# One image for every Shutter process; the command picks which one:
#   python -m services.<name>   (user, follow, photo, like, comment, view, feed, search)
#   python -m gateway           (the HTTP gateway; the default)
# Runs as uid 10001 with a read-only root filesystem: it writes only to SHUTTER_DATA_DIR and /tmp,
# which the chart mounts as emptyDir volumes. Pin the base by digest when you build for production:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm   → --build-arg PYTHON_IMAGE=python@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# Wheels only: the slim image has no compiler, and a source build would be a surprise worth failing on.
RUN /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt
WORKDIR /app
COPY gen/ gen/
COPY services/ services/
COPY gateway/ gateway/
COPY web/ web/
# Bytecode compiled now, checked by hash not mtime: the running container cannot write __pycache__.
RUN /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/venv /app

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 shutter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shutter \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/shutter
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHUTTER_HOST=0.0.0.0 \
    SHUTTER_DATA_DIR=/var/lib/shutter
USER 10001:10001
EXPOSE 8080 50051-50059
CMD ["python", "-m", "gateway"]
