#!/usr/bin/env bash
# Builds vegeta (github.com/tsenart/vegeta, the Go HTTP load generator) into tools/bin for the quota
# bench (billing-service/bench/vegeta.ts; `npm run bench -- --only quota` runs this when the binary
# is missing). Pinned by go.mod and go.sum here (a `tool` directive), built from the Go module proxy
# with the same settings and caches as tools/build.sh: needs Go >= 1.26.
#
# Not part of tools/build.sh on purpose: build.sh's per-tool stamps hash build.sh itself, so any edit
# there makes every Go tool rebuild (kube-apiserver and otelcol take about 20 minutes each here).
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE_DIR="$TOOLS_DIR/vegeta"
BIN_DIR="$TOOLS_DIR/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -modcacherw -mod=readonly"
export GOMODCACHE="$TOOLS_DIR/.cache/mod" GOCACHE="$TOOLS_DIR/.cache/build"
export GOMAXPROCS="${GOMAXPROCS:-2}"

mkdir -p "$BIN_DIR"
version="$(cd "$MODULE_DIR" && go list -m -f '{{.Version}}' github.com/tsenart/vegeta/v12)"
stamp="$(cat "$MODULE_DIR/go.mod" "$MODULE_DIR/go.sum" "$MODULE_DIR/build.sh" | sha256sum | cut -d' ' -f1)"
stamp_file="$TOOLS_DIR/.cache/stamps/vegeta-own"
if [[ -x "$BIN_DIR/vegeta" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
  echo "[tools] vegeta: up to date ($version)"
  exit 0
fi
echo "[tools] vegeta: building github.com/tsenart/vegeta/v12 $version"
(cd "$MODULE_DIR" && nice -n "${MAAS_TOOLS_NICE:-19}" go build -ldflags "-s -w -X main.Version=$version" -o "$BIN_DIR/vegeta.tmp" github.com/tsenart/vegeta/v12)
mv "$BIN_DIR/vegeta.tmp" "$BIN_DIR/vegeta"
mkdir -p "$(dirname "$stamp_file")"
echo "$stamp" > "$stamp_file"
echo "[tools] vegeta: built"
