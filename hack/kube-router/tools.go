//go:build tools

// Package tools pins kube-router, whose NetworkPolicy controller (alone: no routing, no
// service proxy) enforces policies on the dev cluster's real nodes. v2.1.0 is the one
// release the module proxy serves.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
