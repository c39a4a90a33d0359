#!/usr/bin/env bash
# End-to-end check of the billing image pipeline's config step with the REAL Pulumi CLI
# (tools/bin/pulumi, built by `tools/build.sh pulumi`): in a temp copy of a platform stack file and a
# local file backend, run the exact `pulumi config set --path` of .github/workflows/billing-image.yml,
# then render the stack offline and check the billing Deployment runs that digest.
# Exit codes: 0 ok, 1 check failed, 3 tools/bin/pulumi missing.
#
#   scripts/delivery/verify-config-set.sh [stack]      (default platform-openshift)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
STACK="${1:-platform-openshift}"
PULUMI="$REPO/tools/bin/pulumi"
[[ -x "$PULUMI" ]] || { echo "verify-config-set: $PULUMI missing (tools/build.sh pulumi)" >&2; exit 3; }
T="$(mktemp -d /tmp/maas-config-set-XXXX)"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/state" "$T/home" "$T/project"
cp "$REPO/Pulumi.yaml" "$REPO/Pulumi.$STACK.yaml" "$T/project/"
export PULUMI_HOME="$T/home" PULUMI_BACKEND_URL="file://$T/state" PULUMI_CONFIG_PASSPHRASE=verify \
  PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
IMAGE="ghcr.io/acme/maas-billing/billing-service@sha256:$(printf '%s' "$STACK" | sha256sum | cut -d' ' -f1)"
cd "$T/project"
"$PULUMI" stack init "organization/$STACK" >/dev/null 2>&1
# the command billing-image.yml runs (PULUMI_ORG defaults to "organization" on a self-managed backend)
grep -q 'pulumi config set --path "maas-billing:platform.billing.image" "$IMAGE" --stack "$PULUMI_ORG/$stack"' \
  "$REPO/.github/workflows/billing-image.yml" || { echo "verify-config-set: the workflow's command changed; update this check" >&2; exit 1; }
"$PULUMI" config set --path "maas-billing:platform.billing.image" "$IMAGE" --stack "organization/$STACK"
echo "--- what pulumi config set changed in Pulumi.$STACK.yaml:"
diff "$REPO/Pulumi.$STACK.yaml" "Pulumi.$STACK.yaml" || true
cd "$REPO"
"$REPO/node_modules/.bin/tsx" scripts/synth.ts --stack "$STACK" --config "$T/project/Pulumi.$STACK.yaml" --out "$T/render" >/dev/null
deployment="$T/render/$STACK/deployment--maas-billing--maas-billing-api.yaml"
if grep -q "image: $IMAGE" "$deployment"; then
  echo "verify-config-set: the rendered maas-billing-api Deployment runs $IMAGE"
else
  echo "verify-config-set: FAIL: $deployment does not run $IMAGE" >&2
  exit 1
fi
