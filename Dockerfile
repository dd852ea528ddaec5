# taskpoold in a container: built in the first stage, run from a slim
# second one as a non-root user.
#
#   docker build -t taskpool .
#   docker run --rm -v taskpool-tls:/etc/taskpool/tls --entrypoint taskpool-make-certs \
#       taskpool /etc/taskpool/tls server taskpool.example.com
#   docker run -p 7433:7433 -v taskpool:/var/lib/taskpool -v taskpool-tls:/etc/taskpool/tls \
#       -e TASKPOOL_TOKEN=secret -e TASKPOOL_TLS_CERT=/etc/taskpool/tls/server.pem \
#       -e TASKPOOL_TLS_KEY=/etc/taskpool/tls/server.key \
#       -e TASKPOOL_ADDR=tls://localhost:7433 -e TASKPOOL_CA=/etc/taskpool/tls/ca.pem taskpool
#
# It listens on 0.0.0.0, so it needs TLS and a token, and refuses to start without
# them unless TASKPOOL_INSECURE=1 says otherwise. The image has taskpool-make-certs
# to make them (docs/operations.md, "Running on a network"); TASKPOOL_ADDR and
# TASKPOOL_CA are for the HEALTHCHECK's client. Any config key can be set from the
# environment: TASKPOOL_ + its path, e.g. TASKPOOL_PROCESS_POOL_SIZE=4.

FROM debian:bookworm AS build
WORKDIR /src
COPY .ci/install-deps .ci/install-deps
RUN .ci/install-deps build && rm -rf /var/lib/apt/lists/*
COPY . .
# The programs only, as unity files, so that an image builds in minutes: the tests
# run in CI (`make test`, on this Debian), and .ci/dockerfile-check runs the image.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
        -DTASKPOOL_BUILD_TESTS=OFF -DTASKPOOL_BUILD_BENCH=OFF \
    && cmake --build build -j "$(nproc)" \
    && cmake --install build --prefix /opt/taskpool --strip

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        tini ca-certificates openssl libstdc++6 libsimdjson14 libspdlog1.10 libfmt9 libcurl4 libssl3 libsqlite3-0 libhttp-parser2.9 libhiredis0.14 libtcmalloc-minimal4 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 taskpool \
    && useradd --system --uid 10001 --gid taskpool --home-dir /var/lib/taskpool \
        --shell /usr/sbin/nologin taskpool \
    && install -d -o taskpool -g taskpool -m 0700 /var/lib/taskpool /etc/taskpool/tls
COPY --from=build /opt/taskpool/bin/taskpoold /opt/taskpool/bin/taskpool \
    /opt/taskpool/bin/taskpool-make-certs /usr/local/bin/
COPY config/taskpool.json /etc/taskpool/taskpool.json
ENV TASKPOOL_CONFIG=/etc/taskpool/taskpool.json \
    TASKPOOL_LISTEN=0.0.0.0:7433 \
    TASKPOOL_STORE_PATH=/var/lib/taskpool/journal.db \
    TASKPOOL_LOG_FORMAT=json \
    TASKPOOL_ADDR=127.0.0.1:7433
# Numeric, so that Kubernetes' runAsNonRoot can verify it without the image's passwd.
USER 10001:10001
VOLUME /var/lib/taskpool
EXPOSE 7433
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["taskpool", "ping"]
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "-c", \
    "exec taskpoold ${TASKPOOL_INSECURE:+--insecure} \"$@\"", "taskpoold"]
