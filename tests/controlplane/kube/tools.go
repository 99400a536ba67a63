//go:build tools

// Package tools only records, for `go mod tidy`, the Kubernetes commands that
// tests/controlplane/build.sh builds from this module (kubeadm, kubelet, kube-proxy and
// kube-scheduler for the kind tier's node image). It is never compiled.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
