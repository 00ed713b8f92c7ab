//go:build tools

// Package tools pins KWOK's controller, which simulates the kubelets of
// netsched's fake GPU nodes.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
