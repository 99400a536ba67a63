//go:build tools

// Package tools only records, for `go mod tidy`, the Kubernetes commands that
// tests/controlplane/build.sh builds from this module. It is never compiled.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
