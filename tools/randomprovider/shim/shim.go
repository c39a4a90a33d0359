// Package shim exposes the random Terraform provider's framework provider to the Pulumi bridge.
// The provider constructor lives in the upstream module's internal/provider, which Go lets only
// import paths under github.com/terraform-providers/terraform-provider-random import; this
// module's path is such a sub-path (the same trick pulumi-random uses), so it can.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the upstream Terraform random provider.
func NewProvider() tfpf.Provider { return provider.New() }
