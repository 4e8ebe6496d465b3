#!/usr/bin/env bash
# Build the images for docker/compose.yaml on a host that can reach the package registries but no image registry.
#
#   docker/build-local.sh            # base images (only if needed), daj-local/redis:7, daj:cpu
#   docker compose -f docker/compose.yaml -f docker/compose.local.yaml --env-file .env --profile cpu up -d
#
# What it does (docs/deploy.md, "Build and run without an image registry"):
#  1. The base images. If `python:3.11-slim-bookworm` is present or can be pulled, daj:cpu uses it. Otherwise
#     it makes one: `debootstrap --variant=minbase bookworm` + `docker import` (daj-local/debian:bookworm), then
#     Debian's own python3.11 (+ headers) with a virtual environment at /usr/local, so `python`, `pip` and
#     site-packages sit where the official image has them (daj-local/python:3.11-slim-bookworm).
#  2. Redis: unless redis:7-alpine is present or can be pulled, daj-local/redis:7, Debian bookworm's redis-server
#     on the same local Debian base (compose.local.yaml points the compose `redis` service at it).
#  3. daj:cpu from docker/Dockerfile.cpu with BASE_IMAGE set to that base. pip inside the build uses this
#     machine's own pip configuration (`pip config list`: index-url, extra-index-url, find-links, cert): local
#     folders and file:// indexes are served read-only on 127.0.0.1 for the length of the build (--network host),
#     and the resulting pip.conf (and the CA bundle `cert` names) reach the build as BuildKit secrets, mounted for
#     the pip commands only. No host is written into the repository, and none into a layer or the image's history.
#
# Needs: root (debootstrap, docker), a running Docker daemon, a BuildKit-capable client (`docker buildx`, or the
# 20.10 CLI with DOCKER_BUILDKIT=1), debootstrap when no base image can be had, python3 on the host.
# Environment: DAJ_BASE_IMAGE (use this base, skip 1), DAJ_DEBIAN_MIRROR (default: this host's apt mirror, else
# http://deb.debian.org/debian), DAJ_IMAGE (default daj:cpu), DAJ_DOCKER (the docker client to build with),
# DAJ_BUILD_ARGS (extra arguments for the daj build, e.g. --no-cache), DAJ_SKIP_REDIS=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PUBLIC_BASE=python:3.11-slim-bookworm
LOCAL_DEBIAN=daj-local/debian:bookworm
LOCAL_PYTHON=daj-local/python:3.11-slim-bookworm
LOCAL_REDIS=daj-local/redis:7
IMAGE=${DAJ_IMAGE:-daj:cpu}
WORK=$(mktemp -d /var/tmp/daj-build-local.XXXXXX)
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[build-local %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
has_image() { docker image inspect "$1" >/dev/null 2>&1; }

# A client that builds with BuildKit (RUN --mount needs it): buildx if installed, else a pre-23 CLI with
# DOCKER_BUILDKIT=1 (Debian's docker.io ships the 20.10 CLI as /usr/bin/docker).
builder() {
    local cli version
    for cli in ${DAJ_DOCKER:-} docker /usr/bin/docker; do
        command -v "$cli" >/dev/null || continue
        if "$cli" buildx version >/dev/null 2>&1; then
            BUILD=("$cli" buildx build --load)
            return
        fi
        version=$("$cli" version --format '{{.Client.Version}}' 2>/dev/null || true)
        if [[ ${version%%.*} =~ ^[0-9]+$ && ${version%%.*} -lt 23 ]]; then
            BUILD=(env DOCKER_BUILDKIT=1 "$cli" build --progress plain)
            return
        fi
    done
    echo "no BuildKit-capable docker client: install buildx, or use Docker 20.10's CLI (DAJ_DOCKER=/usr/bin/docker)" >&2
    exit 1
}

debian_mirror() {
    if [[ -n ${DAJ_DEBIAN_MIRROR:-} ]]; then
        echo "$DAJ_DEBIAN_MIRROR"
        return
    fi
    # deb822 (URIs:) or one-line sources of this host; the first plain Debian archive wins.
    local uri
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n1 | tr -d ' ' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# 1. Base images --------------------------------------------------------------------------------------------
base_image() {
    if [[ -n ${DAJ_BASE_IMAGE:-} ]]; then
        echo "$DAJ_BASE_IMAGE"
        return
    fi
    if has_image "$PUBLIC_BASE" || docker pull -q "$PUBLIC_BASE" >/dev/null 2>&1; then
        echo "$PUBLIC_BASE"
        return
    fi
    log "no $PUBLIC_BASE (no registry): making $LOCAL_PYTHON locally"
    local_debian
    if ! has_image "$LOCAL_PYTHON"; then
        mkdir -p "$WORK/empty"
        "${BUILD[@]}" -t "$LOCAL_PYTHON" --build-arg "DEBIAN_IMAGE=$LOCAL_DEBIAN" -f - "$WORK/empty" >&2 <<'EOF'
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
# Debian's python3.11 (the same minor version as python:3.11-slim-bookworm), its headers (torch.compile builds C++
# kernels against Python.h when the vLLM CPU engine starts) and a virtual environment at
# /usr/local: `python`, `python3` and `pip` in /usr/local/bin, packages in /usr/local/lib/python3.11/site-packages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /usr/local \
    && /usr/local/bin/python -m pip --version
ENV LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3"]
EOF
    fi
    echo "$LOCAL_PYTHON"
}

local_debian() {
    has_image "$LOCAL_DEBIAN" && return
    command -v debootstrap >/dev/null || { echo "debootstrap is needed: apt-get install debootstrap" >&2; exit 1; }
    local mirror rootfs=$WORK/rootfs
    mirror=$(debian_mirror)
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "docker import -> $LOCAL_DEBIAN"
    tar -C "$rootfs" --numeric-owner -c . | docker import -c 'CMD ["bash"]' - "$LOCAL_DEBIAN" >/dev/null
}

# 2. Redis --------------------------------------------------------------------------------------------------
redis_image() {
    [[ ${DAJ_SKIP_REDIS:-} == 1 ]] && return
    has_image "$LOCAL_REDIS" && return
    if has_image redis:7-alpine || docker pull -q redis:7-alpine >/dev/null 2>&1; then
        log "redis:7-alpine is available: use compose.yaml without compose.local.yaml"
        return
    fi
    local_debian
    log "building $LOCAL_REDIS (Debian bookworm's redis-server)"
    mkdir -p "$WORK/empty"
    "${BUILD[@]}" -t "$LOCAL_REDIS" --build-arg "DEBIAN_IMAGE=$LOCAL_DEBIAN" -f - "$WORK/empty" >&2 <<'EOF'
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
EOF
}

# 3. pip's sources, served for the build ----------------------------------------------------------------------
# Reads `pip config list` (files and PIP_* variables); every local folder or file:// URL becomes
# http://127.0.0.1:PORT/<n>/... (the build runs with --network host, so only this host sees the server).
pip_sources() {
    local pip=(python3 -m pip)
    "${pip[@]}" --version >/dev/null 2>&1 || pip=(pip3)
    mkdir -p "$WORK/serve"
    "${pip[@]}" config list >"$WORK/pip-config.txt" 2>/dev/null || true
    python3 - "$WORK/pip-config.txt" "$WORK/serve" "$WORK/pip.conf" "$WORK/index-url" <<'EOF'
import os, re, sys
from pathlib import Path

config, serve, out, index_out = sys.argv[1:]
values = {}
for line in Path(config).read_text().splitlines():
    m = re.match(r"^[^.]*\.([a-z-]+)='(.*)'$", line)
    if m and m.group(1) in ("index-url", "extra-index-url", "find-links", "cert"):
        values.setdefault(m.group(1), m.group(2))  # env (listed first) wins, as in pip
links = {}

def served(location: str) -> str:
    path = location[len("file://"):] if location.startswith("file://") else location
    if re.match(r"^https?://", location):
        return location
    path = os.path.realpath(path)
    # /opt/pypi/simple -> serve /opt/pypi (the index's files may sit beside it: href="../../files/...")
    top = os.path.dirname(path) if os.path.basename(path) == "simple" else path
    name = links.setdefault(top, str(len(links)))
    os.symlink(top, os.path.join(serve, name)) if not os.path.lexists(os.path.join(serve, name)) else None
    rest = os.path.relpath(path, top)
    return "http://127.0.0.1:{port}/" + name + ("/" + rest if rest != "." else "") + "/"

lines = ["[global]"]
for key in ("index-url", "extra-index-url", "find-links"):
    if key in values:
        lines.append(f"{key} = " + " ".join(served(v) for v in values[key].split()))
if "cert" in values:  # a CA bundle pip must trust (a TLS-inspecting proxy): passed as the secret pip-cert
    lines.append("cert = /run/secrets/pip-cert")
    Path(out + ".cert").write_bytes(Path(values["cert"]).read_bytes())
Path(out).write_text("\n".join(lines) + "\n")
Path(index_out).write_text(values.get("index-url", "https://pypi.org/simple").split()[0])
EOF
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$WORK/serve" "$port" >"$WORK/http.log" 2>&1 &
    SERVER_PID=$!
    sed -i "s/{port}/$port/g" "$WORK/pip.conf"
    chmod 600 "$WORK/pip.conf"
    SECRETS=(--secret "id=pip.conf,src=$WORK/pip.conf")
    [[ -f $WORK/pip.conf.cert ]] && SECRETS+=(--secret "id=pip-cert,src=$WORK/pip.conf.cert")
    TORCH_INDEX=$(sed "s/{port}/$port/g" "$WORK/index-url")
    if grep -q '^index-url' "$WORK/pip.conf"; then TORCH_INDEX=$(sed -n 's/^index-url = \([^ ]*\).*/\1/p' "$WORK/pip.conf"); fi
    log "pip sources for the build: $(tr '\n' ' ' <"$WORK/pip.conf")"
    sleep 0.5
}

# 4. The daj image -----------------------------------------------------------------------------------------
main() {
    docker info >/dev/null 2>&1 || { echo "no Docker daemon answers (start dockerd first)" >&2; exit 1; }
    builder
    local base
    base=$(base_image)
    redis_image
    pip_sources
    log "building $IMAGE from $base (torch from $TORCH_INDEX + this host's find-links)"
    local start=$SECONDS
    # shellcheck disable=SC2086
    "${BUILD[@]}" --network host "${SECRETS[@]}" \
        --build-arg "BASE_IMAGE=$base" --build-arg "TORCH_INDEX_URL=$TORCH_INDEX" \
        ${DAJ_BUILD_ARGS:-} -f "$ROOT/docker/Dockerfile.cpu" -t "$IMAGE" "$ROOT"
    log "built $IMAGE in $((SECONDS - start)) s: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}')"
}

main "$@"
