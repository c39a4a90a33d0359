// The pulumi-kubernetes resource provider, served from the provider/v4 module of the Go module
// proxy. Upstream's own cmd/pulumi-resource-kubernetes embeds files its build generates (and
// git-ignores), so the module zip cannot build it; this main is the same three lines, and
// tools/build.sh writes the two embedded files from the module's schema.json and
// terraform-mapping.json into this (git-ignored) directory before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
