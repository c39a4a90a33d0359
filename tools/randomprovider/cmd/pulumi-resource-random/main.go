// The random resource provider. tools/build.sh generates the two embedded files with
// pulumi-tfgen-random into this (git-ignored) directory before building it.
package main

import (
	"context"
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	randomprovider "maas-billing/tools/randomprovider"
)

//go:embed schema-embed.json
var packageSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	meta := tfbridge.ProviderMetadata{PackageSchema: packageSchema, BridgeMetadata: bridgeMetadata}
	tfbridge.Main(context.Background(), "random", randomprovider.Provider(bridgeMetadata), meta)
}
