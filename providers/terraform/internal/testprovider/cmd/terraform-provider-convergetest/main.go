// Command terraform-provider-convergetest serves the convergetest provider
// as a Terraform plugin, on protocol 6, or 5 when CONVERGETEST_PROTOCOL=5.
package main

import (
	"context"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/convergehq/converge/providers/terraform/internal/testprovider"
)

func main() {
	version := 6
	if os.Getenv(testprovider.ProtocolEnv) == "5" {
		version = 5
	}
	err := providerserver.Serve(context.Background(), testprovider.New, providerserver.ServeOpts{
		Address:         testprovider.Address,
		ProtocolVersion: version,
	})
	if err != nil {
		log.Fatal(err)
	}
}
