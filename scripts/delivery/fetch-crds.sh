#!/usr/bin/env bash
# Fetches the upstream CRD schemas the conformance tests read (MAAS_CRDS_DIR) into <dir>, each from
# its pinned upstream commit, and checks every file against the sha256 in .github/crd-sources.tsv.
# Used by the GitHub workflows, where no ../shared/crds sits beside the repository.
#
#   scripts/delivery/fetch-crds.sh <dir>
#   CRD_BASE_URL   where <repository>/<commit>/<path> is served (default: GitHub's raw file host)
set -euo pipefail
dir="${1:?usage: fetch-crds.sh <dir>}"
base="${CRD_BASE_URL:-https://raw.githubusercontent.com}"
manifest="$(cd "$(dirname "$0")/../.." && pwd)/.github/crd-sources.tsv"
mkdir -p "$dir"
count=0
while IFS=$'\t' read -r file repository commit path sha256; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  curl -fsSL --retry 3 -o "$dir/$file.tmp" "$base/$repository/$commit/$path"
  actual="$(sha256sum "$dir/$file.tmp" | cut -d' ' -f1)"
  if [[ "$actual" != "$sha256" ]]; then
    echo "fetch-crds: $file from $repository@$commit:$path has sha256 $actual, expected $sha256" >&2
    rm -f "$dir/$file.tmp"
    exit 1
  fi
  mv "$dir/$file.tmp" "$dir/$file"
  count=$((count + 1))
done < "$manifest"
echo "fetch-crds: $count CRD schemas in $dir, each matching its pinned sha256"
