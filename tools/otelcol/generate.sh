#!/usr/bin/env bash
# Regenerates tools/otelcol (main.go, components.go, go.mod, go.sum) from builder-config.yaml with the
# OpenTelemetry Collector Builder (ocb) of the same release, from the Go module proxy. Run after
# changing builder-config.yaml; tools/build.sh otelcol then compiles the committed sources.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="$(dirname "$DIR")"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-modcacherw"
export GOMODCACHE="$TOOLS_DIR/.cache/mod" GOCACHE="$TOOLS_DIR/.cache/build" GOBIN="$TOOLS_DIR/.cache/gobin"
OCB_VERSION="v0.161.0"   # keep equal to the collector modules in builder-config.yaml
nice -n "${MAAS_TOOLS_NICE:-19}" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
cd "$DIR"
nice -n "${MAAS_TOOLS_NICE:-19}" "$GOBIN/builder" --config builder-config.yaml --skip-compilation
nice -n "${MAAS_TOOLS_NICE:-19}" go mod tidy
