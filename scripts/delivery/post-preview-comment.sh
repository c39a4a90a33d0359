#!/usr/bin/env bash
# Posts a stack's preview comment (scripts/delivery/preview-comment.ts output) on a pull request, or
# updates this stack's earlier one, found by the marker line the body starts with. One comment per
# stack, kept current across pushes. Needs gh with GH_TOKEN (pull-requests: write).
#   post-preview-comment.sh <pr number> <stack name> <body file>
set -euo pipefail
pr="${1:?pr number}" stack="${2:?stack name}" body="${3:?body file}"
marker="<!-- maas-billing-preview:${stack} -->"
if [[ "$(head -n 1 "$body")" != "$marker" ]]; then
  echo "post-preview-comment: $body does not start with $marker" >&2
  exit 1
fi
repo="${GITHUB_REPOSITORY:?GITHUB_REPOSITORY}"
id="$(gh api --paginate "repos/$repo/issues/$pr/comments" --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)"
if [[ -n "$id" ]]; then
  gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$body" >/dev/null
  echo "updated comment $id for $stack"
else
  gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$body" >/dev/null
  echo "posted the preview comment for $stack"
fi
