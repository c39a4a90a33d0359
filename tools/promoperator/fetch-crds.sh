#!/usr/bin/env bash
# The upstream CRDs of the custom resources the product renders but ../shared/crds does not hold (it is
# read-only to the project): prometheus-operator's Alertmanager and AlertmanagerConfig. Used by the e2e
# render and engine stages (scripts/e2e/alerting-crs.ts); `npm test` never runs it.
#
# They come from the prometheus-operator root module, downloaded through the Go module proxy like the
# tools of tools/build.sh (same GOMODCACHE): go.mod here pins v0.93.0, the release the shared
# monitoring.coreos.com CRDs were copied from, and go.sum pins the module's hash (Go refuses a
# different zip). Each file's sha256 is pinned below as well. Nothing is copied into the repository:
# the files go to the git-ignored tools/crds. AlertmanagerConfig comes from
# example/prometheus-operator-crd-full: the plain example/prometheus-operator-crd file serves only
# v1alpha1, and the OpenShift flavor renders monitoring.coreos.com/v1beta1 (the full CRD serves both;
# upstream installs it with its conversion webhook, example/alertmanager-crd-conversion).
#
# Not part of tools/build.sh on purpose: build.sh's per-tool stamps hash build.sh itself, so any edit
# there makes every Go tool rebuild (kube-apiserver and otelcol take about 20 minutes each here).
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE_DIR="$TOOLS_DIR/promoperator"
CRD_DIR="$TOOLS_DIR/crds"
export GOTOOLCHAIN=local GOFLAGS="-modcacherw -mod=readonly" GOMODCACHE="$TOOLS_DIR/.cache/mod"

# file -> "folder in the module|sha256"
declare -A CRDS=(
  [monitoring.coreos.com_alertmanagers.yaml]="example/prometheus-operator-crd|0e8eccd22699818c93f619c8fe2d92dbbd783a7e9232827a886dedeac1fb5dc1"
  [monitoring.coreos.com_alertmanagerconfigs.yaml]="example/prometheus-operator-crd-full|ed67579ac03568a1daaa3add976450d24cb81d54996b195ad88ea65cd2967e84"
)

(cd "$MODULE_DIR" && go mod download github.com/prometheus-operator/prometheus-operator)
mod="$(cd "$MODULE_DIR" && go list -m -f '{{.Dir}}' github.com/prometheus-operator/prometheus-operator)"
version="$(cd "$MODULE_DIR" && go list -m -f '{{.Version}}' github.com/prometheus-operator/prometheus-operator)"
mkdir -p "$CRD_DIR"
for file in "${!CRDS[@]}"; do
  folder="${CRDS[$file]%%|*}"
  expected="${CRDS[$file]#*|}"
  actual="$(sha256sum "$mod/$folder/$file" | cut -d' ' -f1)"
  if [[ "$actual" != "$expected" ]]; then
    echo "[tools] alertmanager-crds: $folder/$file of prometheus-operator $version has sha256 $actual, expected $expected" >&2
    exit 1
  fi
  cp "$mod/$folder/$file" "$CRD_DIR/$file"
done
echo "[tools] alertmanager-crds: ${#CRDS[@]} CRDs in $CRD_DIR (github.com/prometheus-operator/prometheus-operator@$version)"
