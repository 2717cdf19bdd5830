//go:build !race

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// metricsBenchServer is benchServer with metrics on, or off.
func metricsBenchServer(tb testing.TB, on bool) *fasthttp.Server {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), bytes.Repeat([]byte("x"), 1024), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.quiet = false
	logger := newAccessLog(io.Discard, cfg.quiet)
	if on {
		logger.metrics = newServerMetrics("dir", newConnSet(0, 0))
	}
	tb.Cleanup(func() { logger.Close() })
	return newServer(cfg, testBackend(tb, dir), logger)
}

// TestAllocationsWithMetrics: metrics cost no allocation: every route
// keeps its budget with them on.
func TestAllocationsWithMetrics(t *testing.T) {
	srv := metricsBenchServer(t, true)
	const n = 16
	for _, tt := range allocBudgets {
		t.Run(tt.name, func(t *testing.T) {
			c := &connStub{}
			serve := func(requests int) func() {
				pipelined := strings.Repeat(tt.request, requests)
				return func() { c.serve(t, srv, pipelined) }
			}
			serve(1)()
			one := testing.AllocsPerRun(100, serve(1))
			many := testing.AllocsPerRun(100, serve(1+n))
			if perRequest := (many - one) / n; perRequest > tt.budget {
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
