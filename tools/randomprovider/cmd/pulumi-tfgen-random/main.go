// Generates the Pulumi package schema and bridge metadata of the random provider
// (tools/build.sh runs `pulumi-tfgen-random schema --out <dir>`); the resource provider embeds them.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	randomprovider "maas-billing/tools/randomprovider"
)

func main() { tfgen.Main("random", randomprovider.Provider(nil)) }
