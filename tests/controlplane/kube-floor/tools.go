//go:build tools

// Package tools only records, for `go mod tidy`, the Kubernetes command that
// tests/controlplane/build.sh builds from this module with CP_FLOOR=1: the oldest supported
// API server (make test-floor). It is never compiled.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
