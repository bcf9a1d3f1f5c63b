# syntax=docker/dockerfile:1
# One image for the whole application: `photostream worker`, `photostream api`, `photostream simulate`,
# `photostream lag --serve` and the one-shot set-up job (scripts/compose/init.py) are its commands
# (docker-compose.yml). Checked without a Docker engine by tests/unit/test_compose.py: the base image is
# pinned, every file a COPY/RUN/CMD names exists in the repository, and the process runs as a non-root user.

FROM python:3.11.11-slim-bookworm AS build
# cassandra-driver and other sdists compile their C extensions here; the runtime stage gets only the results
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY photostream ./photostream
COPY producers ./producers
COPY streams ./streams
COPY sinks ./sinks
COPY api ./api
# editable: the code finds schemas/ (and the stack modules find ops/) next to itself, at /app
RUN pip install --upgrade pip && pip install -e .

FROM python:3.11.11-slim-bookworm
RUN groupadd --system --gid 10001 photostream \
    && useradd --system --uid 10001 --gid photostream --home-dir /app --shell /usr/sbin/nologin photostream \
    && mkdir -p /var/lib/photostream \
    && chown photostream:photostream /var/lib/photostream
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /app ./
COPY schemas ./schemas
COPY scripts/compose/init.py scripts/compose/healthcheck.py ./scripts/compose/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PHOTOSTREAM_API_HOST=0.0.0.0 \
    PHOTOSTREAM_WORKER_WEB_HOST=0.0.0.0 \
    PHOTOSTREAM_LAG_EXPORTER_HOST=0.0.0.0 \
    PHOTOSTREAM_WORKER_DATA_DIR=/var/lib/photostream/worker \
    PHOTOSTREAM_STACK_DIR=/var/lib/photostream/stack
USER photostream
EXPOSE 18000 18001 19308
ENTRYPOINT ["photostream"]
CMD ["api"]
