// Package randomprovider is this repository's build of the Pulumi "random" resource provider: the
// upstream Terraform random provider (a module the Go proxy serves) behind the Pulumi Terraform
// bridge, with the resource tokens @pulumi/random uses (random:index/randomPassword:RandomPassword
// and so on). pulumi-random's own provider module is not served by the proxy; a user with internet
// access simply runs `pulumi plugin install resource random <version>`, and tools/build.sh uses an
// installed plugin when there is one.
package randomprovider

import (
	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is set by the linker (tools/build.sh), without a leading "v".
var Version string

// Provider maps every random_* Terraform resource to random:index/random<Name>:Random<Name>, the
// tokens of the @pulumi/random SDK. metadata is the bridge metadata tfgen wrote (nil while
// generating it).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		License:      "Apache-2.0",
		Version:      Version,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		// Same flags as the published provider, so diffs and previews read the same.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	makeToken := func(module, name string) (string, error) {
		return tokens.MakeStandard("random")(module, "Random"+name)
	}
	info.MustComputeTokens(tokens.SingleModule("random_", "index", makeToken))
	return info
}
