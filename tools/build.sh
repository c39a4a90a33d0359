#!/usr/bin/env bash
# Builds the real servers used by `npm run e2e` (and actionlint for the CI workflows) from pinned Go
# modules into the git-ignored tools/bin. One Go module per tool family (tools/<family>/go.mod + go.sum)
# so that Go's minimum version selection never forces one family's dependency versions on another.
#
# Usage: tools/build.sh [tool ...]     tools: actionlint prom-label-proxy etcd kube-apiserver (the default set)
#                                      and pulumi (stretch: the real engine; only when named)
#
# Caching: a stamp per tool (hash of its go.mod, go.sum and this script) is kept in tools/.cache/stamps;
# when it matches and the binary exists the tool is skipped. The module and build caches live in
# tools/.cache too, so a rebuild after a stamp miss only recompiles what changed.
# Runs at the lowest CPU priority: the machine is shared with test suites.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$TOOLS_DIR/bin"
STAMP_DIR="$TOOLS_DIR/.cache/stamps"
mkdir -p "$BIN_DIR" "$STAMP_DIR"

# Reproducible, cgo-free builds that never switch toolchains or touch the user's Go caches.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -modcacherw -mod=readonly"
export GOMODCACHE="$TOOLS_DIR/.cache/mod" GOCACHE="$TOOLS_DIR/.cache/build"
export GOMAXPROCS="${GOMAXPROCS:-2}"

# tool name -> "module dir|main package"
declare -A TOOL_SPEC=(
  [actionlint]="actionlint|github.com/rhysd/actionlint/cmd/actionlint"
  [prom-label-proxy]="promlabelproxy|github.com/prometheus-community/prom-label-proxy"
  [etcd]="etcd|go.etcd.io/etcd/server/v3"
  [kube-apiserver]="kube|k8s.io/kubernetes/cmd/kube-apiserver"
  [pulumi]="pulumi|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
ALL_TOOLS=(actionlint prom-label-proxy etcd kube-apiserver)
# Stretch (real engine), built only when named: tools/build.sh pulumi
OPTIONAL_TOOLS=(pulumi)

# Version of a module as pinned in the tool module's go.mod (so ldflags never drift from go.mod).
module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# Build tags a tool needs (upstream's release builds use these for the Pulumi CLI).
tags_for() {
  case "$1" in
    pulumi) echo "osusergo,grpcnotrace" ;;
    *) echo "" ;;
  esac
}

# Version ldflags each tool needs to report itself correctly.
ldflags_for() {
  local tool="$1" dir="$2" v
  case "$tool" in
    actionlint)
      v="$(module_version "$dir" github.com/rhysd/actionlint)"
      echo "-X github.com/rhysd/actionlint.version=${v#v}" ;;
    prom-label-proxy)
      v="$(module_version "$dir" github.com/prometheus-community/prom-label-proxy)"
      echo "-X github.com/prometheus/common/version.Version=${v#v}" ;;
    etcd) echo "" ;;
    kube-apiserver)
      # Without these the server reports v0.0.0 and pulumi-kubernetes refuses the cluster.
      v="$(module_version "$dir" k8s.io/kubernetes)"
      local minor; minor="$(echo "$v" | cut -d. -f2)"
      local flags="" p
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor"
        flags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      done
      echo "$flags" ;;
    pulumi)
      # The Automation API refuses a CLI that reports an empty version.
      v="$(module_version "$dir" github.com/pulumi/pulumi/pkg/v3)"
      echo "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" ;;
  esac
}

stamp_of() {
  local dir="$1"
  cat "$dir/go.mod" "$dir/go.sum" "$TOOLS_DIR/build.sh" | sha256sum | cut -d' ' -f1
}

build_one() {
  local tool="$1"
  local spec="${TOOL_SPEC[$tool]:-}"
  if [[ -z "$spec" ]]; then echo "unknown tool: $tool (known: ${ALL_TOOLS[*]} ${OPTIONAL_TOOLS[*]})" >&2; return 2; fi
  local dir="$TOOLS_DIR/${spec%%|*}" pkg="${spec#*|}"
  local stamp; stamp="$(stamp_of "$dir")"
  if [[ -x "$BIN_DIR/$tool" && -f "$STAMP_DIR/$tool" && "$(cat "$STAMP_DIR/$tool")" == "$stamp" ]]; then
    echo "[tools] $tool: up to date (stamp ${stamp:0:12})"
    return 0
  fi
  local ldflags; ldflags="-s -w $(ldflags_for "$tool" "$dir")"
  local start=$SECONDS
  echo "[tools] $tool: building $pkg"
  (cd "$dir" && nice -n 19 go build -tags "$(tags_for "$tool")" -ldflags "$ldflags" -o "$BIN_DIR/$tool.tmp" "$pkg")
  mv "$BIN_DIR/$tool.tmp" "$BIN_DIR/$tool"
  echo "$stamp" > "$STAMP_DIR/$tool"
  echo "[tools] $tool: built in $((SECONDS - start))s"
}

tools=("$@")
if [[ ${#tools[@]} -eq 0 ]]; then tools=("${ALL_TOOLS[@]}"); fi
for t in "${tools[@]}"; do build_one "$t"; done
