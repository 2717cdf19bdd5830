//go:build !race

package main

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAllocationsWithMetrics: metrics cost no allocation: every route
// keeps its budget with them on.
func TestAllocationsWithMetrics(t *testing.T) {
	srv := metricsBenchServer(t, true)
	for _, tt := range allocBudgets {
		t.Run(tt.name, func(t *testing.T) {
			if perRequest := allocsPerRequest(t, srv, tt.request); perRequest > tt.budget {
				t.Errorf("%s: %.2f allocations per request with metrics, budget %.0f", tt.name, perRequest, tt.budget)
			}
		})
	}
}

// BenchmarkMetrics serves each route with metrics off and on, side by
// side in the same run (so that a change in the machine's load hits both
// alike), for the ratio the issue asks for: on within 3% of off.
func BenchmarkMetrics(b *testing.B) {
	servers := map[string]*fasthttp.Server{"off": metricsBenchServer(b, false), "on": metricsBenchServer(b, true)}
	for _, tt := range allocBudgets {
		for _, mode := range []string{"off", "on"} {
			b.Run(tt.name+"/"+mode, func(b *testing.B) {
				c := &connStub{}
				b.ReportAllocs()
				for b.Loop() {
					c.serve(b, servers[mode], tt.request)
				}
			})
		}
	}
}
