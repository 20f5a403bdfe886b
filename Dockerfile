# The mock server as a sidecar container: docs/ci.md shows it in CI.
#
#   docker build -t mockserver .
#   docker run --rm -p 8080:8080 -v "$PWD/stubs:/stubs:ro" mockserver
#
# Stage 1 builds a wheel of the project; stage 2 installs only that wheel (and the runtime
# dependencies it declares) into a clean image that runs as an unprivileged user.
# tests/test_container.py performs these steps without a container engine and reads ENV, EXPOSE,
# ENTRYPOINT, CMD and HEALTHCHECK from this file: keep them in exec form, one instruction each.

FROM python:3.11.14-slim-bookworm AS build

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .


FROM python:3.11.14-slim-bookworm

ENV PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 mockserver \
    && useradd --system --no-log-init --uid 10001 --gid mockserver \
        --home-dir /home/mockserver --create-home --shell /usr/sbin/nologin mockserver

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

# The example stubs are the default; mount your own over them: -v "$PWD/stubs:/stubs:ro"
COPY stubs /stubs

ENV MOCKSERVER_STUBS=/stubs \
    MOCKSERVER_HOST=0.0.0.0 \
    MOCKSERVER_PORT=8080

USER 10001:10001
WORKDIR /home/mockserver
EXPOSE 8080

# No curl in a slim image, and the server may be moved to another port, admin prefix or HTTPS:
# the probe reads MOCKSERVER_PORT, MOCKSERVER_ADMIN_PREFIX and MOCKSERVER_TLS_CERT as the server
# does. Exit 0 on a 2xx from {prefix}/health, 1 otherwise with the reason on stderr.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "mockserver.healthcheck"]

# Exec form: the server is PID 1 and receives SIGTERM itself (docker stop: graceful shutdown,
# journal dump, exit 0). Other commands: docker run IMAGE validate /stubs
ENTRYPOINT ["mockserver"]
CMD ["serve"]
