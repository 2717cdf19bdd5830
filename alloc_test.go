//go:build !race

package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchServer is the real server, access log on (to io.Discard), serving a
// root with one small file.
func benchServer(tb testing.TB) *fasthttp.Server { return metricsBenchServer(tb, false) }

// metricsBenchServer is benchServer with metrics on, or off.
func metricsBenchServer(tb testing.TB, metricsOn bool) *fasthttp.Server {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), bytes.Repeat([]byte("x"), 1024), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "held.bin"), bytes.Repeat([]byte("x"), 40<<10), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.quiet = false
	logger := newAccessLog(io.Discard, cfg.quiet)
	if metricsOn {
		logger.metrics = newServerMetrics("dir", newConnSet(0, 0))
	}
	tb.Cleanup(func() { logger.Close() })
	return newServer(cfg, testBackend(tb, dir), logger)
}

// allocBudgets are the allocations per request each route may make: none,
// but gzip's (its output buffer and compressor state). The parameter routes
// get there by skipping the router (see handler.serve).
var allocBudgets = []struct {
	name, request string
	budget        float64
}{
	{"GET /", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"HEAD /", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"GET /healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"HEAD /healthz", "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"GET /user-agent", "GET /user-agent HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\n\r\n", 0},
	{"HEAD /user-agent", "HEAD /user-agent HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\n\r\n", 0},
	{"GET /user-agent gzip", "GET /user-agent HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAccept-Encoding: gzip\r\n\r\n", 2},
	{"GET /echo", "GET /echo/hello HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"GET /echo escaped", "GET /echo/hello%20w%C3%B6rld HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"GET /echo gzip", "GET /echo/hello HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", 2},
	{"GET /files small", "GET /files/small.txt HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	{"GET /files held open", "GET /files/held.bin HTTP/1.1\r\nHost: x\r\n\r\n", 0},
}

// TestAllocations holds every hot route to its allocation budget per
// request (see allocsPerRequest).
func TestAllocations(t *testing.T) {
	srv := benchServer(t)
	for _, tt := range allocBudgets {
		t.Run(tt.name, func(t *testing.T) {
			if perRequest := allocsPerRequest(t, srv, tt.request); perRequest > tt.budget {
				t.Errorf("%s: %.2f allocations per request, budget %.0f", tt.name, perRequest, tt.budget)
			}
		})
	}
}

// allocsPerRequest is what the server allocates per request. A
// connection has costs of its own (fasthttp's per-connection buffers), so
// it serves one connection carrying 1 request and one carrying 1+n
// pipelined requests, and charges the difference to the n.
func allocsPerRequest(t *testing.T, srv *fasthttp.Server, request string) float64 {
	t.Helper()
	const n = 16
	c := &connStub{}
	serve := func(requests int) func() {
		pipelined := strings.Repeat(request, requests)
		return func() { c.serve(t, srv, pipelined) }
	}
	serve(1)()
	if !bytes.HasPrefix(c.w.Bytes(), []byte("HTTP/1.1 200 OK")) {
		t.Fatalf("got %q, want 200", c.w.Bytes())
	}
	one := testing.AllocsPerRun(100, serve(1))
	many := testing.AllocsPerRun(100, serve(1+n))
	return (many - one) / n
}

// BenchmarkRoutes measures each route through the real server.
func BenchmarkRoutes(b *testing.B) {
	srv := benchServer(b)
	for _, tt := range allocBudgets {
		b.Run(tt.name, func(b *testing.B) {
			c := &connStub{}
			b.ReportAllocs()
			for b.Loop() {
				c.serve(b, srv, tt.request)
			}
		})
	}
}

// BenchmarkWrites measures uploads (1 KiB, which includes the fsync the
// atomic write promises) and deletes through the real server.
func BenchmarkWrites(b *testing.B) {
	srv := benchServer(b)
	body := string(bytes.Repeat([]byte("u"), 1024))
	for _, tt := range []struct{ name, request, want string }{
		{"POST 1KiB", "POST /files/up/bench.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + body, "HTTP/1.1 201"},
		{"PUT 1KiB", "PUT /files/up/bench.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + body, "HTTP/1.1 204"},
		{"DELETE", "PUT /files/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nDELETE /files/gone HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 201"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := &connStub{}
			b.ReportAllocs()
			for b.Loop() {
				c.serve(b, srv, tt.request)
				if !bytes.HasPrefix(c.w.Bytes(), []byte(tt.want)) {
					b.Fatalf("got %q, want %s", c.w.Bytes(), tt.want)
				}
			}
		})
	}
}

// TestAllocationsOverTCP holds the connection's own path (conn's reads,
// writes and deadlines, see timeouts) to no allocation per request: the
// server, with its listener, on loopback, serves a keep-alive connection
// from a client that itself allocates nothing per request.
func TestAllocationsOverTCP(t *testing.T) {
	srv := benchServer(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := newAccessLog(io.Discard, true)
	t.Cleanup(func() { logger.Close() })
	ours := &listener{Listener: ln, timeouts: newTimeouts(time.Minute, time.Minute, time.Minute), log: logger, conns: newConnSet(1, 8)}
	go srv.Serve(ours) //nolint:errcheck // Serve ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })

	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	request := []byte("GET /echo/hello HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	var want []byte
	roundTrip := func() {
		if _, err := c.Write(request); err != nil {
			t.Fatal(err)
		}
		got := 0
		for want == nil || got < len(want) {
			n, err := c.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
			if want == nil && bytes.HasSuffix(buf[:got], []byte("hello")) {
				want = bytes.Clone(buf[:got])
			}
		}
	}
	roundTrip()
	if !bytes.HasPrefix(want, []byte("HTTP/1.1 200 OK")) {
		t.Fatalf("got %q, want 200", want)
	}
	const n = 20000
	for range 100 { // warm the pools
		roundTrip()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	if perRequest := float64(after.Mallocs-before.Mallocs) / n; perRequest > 0.05 {
		t.Errorf("%.3f allocations per request over TCP, want none", perRequest)
	}
}
