// CoreDNS for the kind tier's node image (tests/kind/), built by tests/controlplane/build.sh:
// CoreDNS's own main (coremain) with only the plugins a cluster-local DNS uses. It has no
// `forward` or `grpc` plugin, so no Corefile can make it send a query outside the cluster
// (a Corefile naming `forward` does not even load), and none of the cloud DNS plugins, whose
// SDKs would double the build time. Its plugin order is CoreDNS's own (core/dnsserver/zdirectives.go).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	dnsserver.Directives = []string{
		"reload",
		"ready",
		"health",
		"prometheus",
		"errors",
		"log",
		"loadbalance",
		"cache",
		"kubernetes",
		"loop",
	}
}

func main() {
	coremain.Run()
}
