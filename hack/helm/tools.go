//go:build tools

// Package tools pins helm, which the tests use to lint, render, install, upgrade and
// uninstall netsched's chart (deploy/helm/netsched) on the dev cluster.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
