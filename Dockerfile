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

# One layer: install, then take out what the server never runs. The extension modules' wheels
# carry their debug symbols (uvloop's library is 13 MiB with them, 1.6 MiB without), so binutils
# (bookworm's 2.40, whatever Debian revision) comes in for `strip` and goes again; packages' own
# tests and C/Cython sources go too. The bytecode stays: pip compiled it, and the unprivileged
# user could not write it at start-up.
COPY --from=build /wheels /tmp/wheels
RUN apt-get update \
    && apt-get install -y --no-install-recommends 'binutils=2.40*' \
    && pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        /tmp/wheels/*.whl \
    && find /usr/local/lib/python3.11 -path '*-packages/*' -name '*.so' \
        -exec strip --strip-unneeded {} + \
    && find /usr/local/lib/python3.11 -path '*-packages/*' \
        \( -type d -name tests -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \) \
        -prune -exec rm -rf {} + \
    && apt-get purge -y --auto-remove binutils \
    && apt-get clean \
    && rm -rf /tmp/wheels /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
        /var/log/apt /var/log/dpkg.log

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
