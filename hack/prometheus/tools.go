//go:build tools

// Package tools pins Prometheus and promtool: the tests scrape the running operator with a
// real Prometheus, evaluate every dashboard query and alert through its HTTP API, and check
// and unit-test the alerting rules with promtool.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
