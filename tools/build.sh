#!/usr/bin/env bash
# Builds the real servers used by `npm run e2e` (and actionlint for the CI workflows) from pinned Go
# modules into the git-ignored tools/bin. One Go module per tool family (tools/<family>/go.mod + go.sum)
# so that Go's minimum version selection never forces one family's dependency versions on another.
#
# Usage: tools/build.sh [tool ...]     tools: actionlint prom-label-proxy etcd kube-apiserver (the default set)
#                                      and the real-engine set, built only when named (or with `engine`):
#                                      pulumi pulumi-resource-kubernetes pulumi-resource-random
#
# Resource providers: when a plugin of that name is already installed (`pulumi plugin install resource
# kubernetes|random ...` on a machine with internet access, found under $PULUMI_HOME/plugins or
# ~/.pulumi/plugins) it is linked into tools/bin instead of built; MAAS_TOOLS_BUILD_PROVIDERS=1 builds
# anyway. tools/bin is put first on PATH by the e2e, where Pulumi picks plugins up as ambient plugins.
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
  [pulumi-resource-kubernetes]="k8sprovider|./cmd/pulumi-resource-kubernetes"
  [pulumi-resource-random]="randomprovider|./cmd/pulumi-resource-random"
)
ALL_TOOLS=(actionlint prom-label-proxy etcd kube-apiserver)
# The real engine (npm run e2e's engine stage), built only when named: tools/build.sh engine
ENGINE_TOOLS=(pulumi pulumi-resource-kubernetes pulumi-resource-random)
OPTIONAL_TOOLS=("${ENGINE_TOOLS[@]}")
# Versions the two providers report. pulumi-kubernetes provider/v4 is served only at the pseudo-version
# of commit f47bc2d6f199 (2026-01-15), the last commit before the 4.25.0 release; the random provider
# is the Terraform random provider (module version in tools/randomprovider/go.mod) behind the bridge.
K8S_PROVIDER_VERSION="4.25.0-dev.20260115+f47bc2d6f199"
RANDOM_PROVIDER_VERSION="4.21.2-dev+tfrandom.f8d869dc98d9"
# CPU priority of the compilers (19: the machine is shared with test suites).
NICE="${MAAS_TOOLS_NICE:-19}"

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
    pulumi-resource-kubernetes)
      echo "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" ;;
    pulumi-resource-random)
      echo "-X maas-billing/tools/randomprovider.Version=$RANDOM_PROVIDER_VERSION" ;;
  esac
}

# Every input of a tool module: go.mod, go.sum, our own Go sources, and this script.
stamp_of() {
  local dir="$1"
  { cat "$TOOLS_DIR/build.sh"; find "$dir" \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 | sort -z | xargs -0 cat; } \
    | sha256sum | cut -d' ' -f1
}

# Upstream's provider mains embed files its own build generates; write them next to our mains
# (git-ignored) from the served modules.
prepare_sources() {
  local tool="$1" dir="$2"
  case "$tool" in
    pulumi-resource-kubernetes)
      # The provider module ships schema.json and terraform-mapping.json; upstream's build stamps the
      # version into the schema it embeds.
      local mod; mod="$(cd "$dir" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
      local out="$dir/cmd/pulumi-resource-kubernetes"
      node -e 'const fs=require("fs");const s=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));s.version=process.argv[3];fs.writeFileSync(process.argv[2],JSON.stringify(s))' \
        "$mod/cmd/pulumi-resource-kubernetes/schema.json" "$out/schema-embed.json" "$K8S_PROVIDER_VERSION"
      node -e 'const fs=require("fs");fs.writeFileSync(process.argv[2],JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1],"utf8"))))' \
        "$mod/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$out/terraform-mapping-embed.json" ;;
    pulumi-resource-random)
      # The bridge's tfgen writes the package schema and the bridge metadata from the Terraform schema.
      local out="$dir/cmd/pulumi-resource-random" gen="$TOOLS_DIR/.cache/random-gen"
      rm -rf "$gen" && mkdir -p "$gen"
      (cd "$dir" && nice -n "$NICE" go build -ldflags "$(ldflags_for "$tool" "$dir")" -o "$gen/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random)
      (cd "$gen" && ./pulumi-tfgen-random schema --out "$gen" >"$gen/tfgen.log" 2>&1) || { cat "$gen/tfgen.log" >&2; return 1; }
      cp "$gen/schema.json" "$out/schema-embed.json"
      cp "$gen/bridge-metadata.json" "$out/bridge-metadata.json" ;;
  esac
}

# An installed plugin (pulumi plugin install) of a provider, if any: the newest version's binary.
installed_plugin() {
  local name="${1#pulumi-resource-}" home
  [[ "${MAAS_TOOLS_BUILD_PROVIDERS:-0}" == 1 ]] && return 1
  for home in "${PULUMI_HOME:-}" "$HOME/.pulumi"; do
    [[ -n "$home" && -d "$home/plugins" ]] || continue
    local found
    found="$(ls -d "$home/plugins/resource-$name-v"* 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$found" && -x "$found/pulumi-resource-$name" ]]; then echo "$found/pulumi-resource-$name"; return 0; fi
  done
  return 1
}

build_one() {
  local tool="$1"
  local spec="${TOOL_SPEC[$tool]:-}"
  if [[ -z "$spec" ]]; then echo "unknown tool: $tool (known: ${ALL_TOOLS[*]} ${OPTIONAL_TOOLS[*]})" >&2; return 2; fi
  local dir="$TOOLS_DIR/${spec%%|*}" pkg="${spec#*|}"
  if [[ "$tool" == pulumi-resource-* ]]; then
    local plugin
    if plugin="$(installed_plugin "$tool")"; then
      ln -sfn "$plugin" "$BIN_DIR/$tool"
      echo "[tools] $tool: using the installed plugin $plugin"
      return 0
    fi
  fi
  local stamp; stamp="$(stamp_of "$dir")"
  if [[ -x "$BIN_DIR/$tool" && -f "$STAMP_DIR/$tool" && "$(cat "$STAMP_DIR/$tool")" == "$stamp" ]]; then
    echo "[tools] $tool: up to date (stamp ${stamp:0:12})"
    return 0
  fi
  local ldflags; ldflags="-s -w $(ldflags_for "$tool" "$dir")"
  local start=$SECONDS
  echo "[tools] $tool: building $pkg"
  prepare_sources "$tool" "$dir"
  (cd "$dir" && nice -n "$NICE" go build -tags "$(tags_for "$tool")" -ldflags "$ldflags" -o "$BIN_DIR/$tool.tmp" "$pkg")
  mv "$BIN_DIR/$tool.tmp" "$BIN_DIR/$tool"
  echo "$stamp" > "$STAMP_DIR/$tool"
  echo "[tools] $tool: built in $((SECONDS - start))s"
}

tools=()
for arg in "$@"; do
  if [[ "$arg" == engine ]]; then tools+=("${ENGINE_TOOLS[@]}"); else tools+=("$arg"); fi
done
if [[ ${#tools[@]} -eq 0 ]]; then tools=("${ALL_TOOLS[@]}"); fi
for t in "${tools[@]}"; do build_one "$t"; done
