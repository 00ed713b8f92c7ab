# syntax=docker/dockerfile:1
#
# netsched: the operator (`netsched run`) and the probe agent (`netsched probe-agent`, which
# needs iperf3) in one image.
#
#   docker build -t netsched:dev .
#
# The dev cluster builds the same image without Docker (netsched.devcluster.images): the same
# Debian release, the same wheels, installed by `hack/install-wheels.sh` into /opt/netsched.
# Apt packages follow Debian's security updates of the release; they are not pinned (DL3008).

ARG DEBIAN=bookworm

# --- build: netsched's wheel and a wheel of every dependency ---------------------------------
FROM debian:${DEBIAN}-slim AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python3 -m pip wheel --no-cache-dir --wheel-dir /wheels .
COPY hack/install-wheels.sh /usr/local/bin/install-wheels
# A virtualenv of exactly those wheels, each checked against its sha256.
RUN install-wheels /wheels /opt/netsched

# --- runtime: Debian's Python, iperf3 and the virtualenv, nothing else ------------------------
FROM debian:${DEBIAN}-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 iperf3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/netsched /opt/netsched
# The user, by name too: tools that look the uid up (getpass, kopf's identity) find it.
RUN groupadd --gid 65532 netsched \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin netsched
ENV PATH=/opt/netsched/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric non-root user (the restricted pod security profile checks runAsNonRoot by number);
# nothing is written at run time, so the root filesystem can be read-only.
USER 65532:65532
ENTRYPOINT ["/opt/netsched/bin/netsched"]
CMD ["run"]

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="netsched" \
      org.opencontainers.image.description="Network-aware gang scheduling of distributed AI training on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="debian:${DEBIAN}-slim"
