# The flow-approval-chatbot image: `chatbot serve` by default (`chatbot migrate`, `demo`,
# `produce`, `check-config` as arguments). Slim, non-root, runtime dependencies only.
#
#   docker build -t flow-approval-chatbot:0.1.0 .
#   docker run --rm flow-approval-chatbot:0.1.0 --help
#
# The base is pinned to a Python patch release; bump it deliberately (and rebuild for
# Debian security updates). Override for a mirror: --build-arg PYTHON_IMAGE=registry/python:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY chatbot ./chatbot
COPY handlers ./handlers
COPY migrations ./migrations
# Runtime dependencies only (no [dev] extra); the wheel carries the Alembic scripts as the
# package chatbot_migrations. Bytecode is compiled here because the root filesystem is
# read-only at run time.
RUN pip install /app \
    && pip uninstall --yes pip \
    && python -m compileall -q --invalidation-mode unchecked-hash /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid/gid, so Kubernetes can verify runAsNonRoot (the chart uses 10001).
RUN groupadd --gid 10001 chatbot \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin chatbot \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
# The default SQLite URL is relative (chatbot.db): it lands on /data, the one writable place
# (the chart mounts a volume there and keeps the root filesystem read-only).
WORKDIR /data
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["chatbot"]
CMD ["serve"]
