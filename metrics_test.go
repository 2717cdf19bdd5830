package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
)

var metricsLine = regexp.MustCompile(`, metrics on http://(\S+)$`)

// metricsAddr is where the server says it serves its metrics.
func metricsAddr(t *testing.T, p *serverProc) string {
	t.Helper()
	first, _, _ := strings.Cut(p.stderr.String(), "\n")
	m := metricsLine.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("start-up line %q names no metrics address", first)
	}
	return m[1]
}

// scrape fetches and parses the metrics at addr.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// metricValue is the value of the series of family name with exactly the
// given labels (name=value pairs); -1 when there is none.
func metricValue(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			match = match && l.GetName() == labels[2*i] && l.GetValue() == labels[2*i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return -1
}

// TestMetricsBinary: after a known set of requests, every counter has its
// exact value; an upload under way and the open connections show in the
// gauges; the runtime and process metrics are there; /metrics is served
// on its own port only.
func TestMetricsBinary(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "a.txt", []byte("hello"))
	p := startBinary(t, root, "--metrics-listen", "127.0.0.1:0")
	addr := metricsAddr(t, p)

	// One keep-alive connection, one request at a time: the bytes it
	// sends are exactly what the server receives.
	c := dialRaw(t, p)
	var received, sent int
	do := func(method, target, extra string, want int) {
		t.Helper()
		req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, target, extra)
		c.send(req)
		r := c.mustRead(method)
		if r.status != want {
			t.Fatalf("%s %s: got %d, want %d", method, target, r.status, want)
		}
		received += len(req)
		sent += len(r.body)
	}
	do("GET", "/echo/abc", "", 200)
	do("GET", "/echo/hello", "", 200)
	do("GET", "/user-agent", "User-Agent: metrics-test\r\n", 200)
	do("PUT", "/files/b.txt", "Content-Length: 3\r\n\r\nxyz", 201)
	do("GET", "/files/a.txt", "", 200)
	do("HEAD", "/files/a.txt", "", 200)
	do("GET", "/files/missing", "", 404)
	do("PROPFIND", "/dav/", "Depth: 0\r\n", 207)
	do("GET", "/nope", "", 404)
	do("GET", "/metrics", "", 404) // never on the public port
	do("GET", "/echo/x?q=1", "", 200)
	const requests = 11

	// An upload under way: its head is in, its body still coming.
	up := startUpload(t, p, "/files/slow.bin", 1000, []byte("part"))
	var m map[string]*dto.MetricFamily
	if !pollUntil(10*time.Second, func() bool {
		m = scrape(t, addr)
		return metricValue(m, "httpbox_uploads_in_flight") == 1
	}) {
		t.Fatalf("uploads in flight: got %v, want 1", metricValue(m, "httpbox_uploads_in_flight"))
	}

	for _, tt := range []struct {
		route, class string
		want         float64
	}{
		{"echo", "2xx", 3}, {"user-agent", "2xx", 1}, {"files", "2xx", 3}, {"files", "4xx", 1},
		{"dav", "2xx", 1}, {"other", "4xx", 2}, {"echo", "4xx", 0}, {"other", "5xx", 0}, {"dav", "3xx", 0},
	} {
		if got := metricValue(m, "httpbox_requests_total", "route", tt.route, "status", tt.class); got != tt.want {
			t.Errorf("requests route=%s status=%s: got %v, want %v", tt.route, tt.class, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"httpbox_request_duration_seconds", requests},
		{"httpbox_received_bytes_total", float64(received)},
		{"httpbox_sent_body_bytes_total", float64(sent)},
		{"httpbox_open_connections", 2},
	} {
		if got := metricValue(m, tt.name); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := metricValue(m, "httpbox_storage_errors_total", "backend", "dir", "kind", "no_space"); got != 0 {
		t.Errorf("storage errors: got %v, want 0", got)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if m[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// The upload ends: no upload in flight.
	up.send(strings.Repeat("x", 996))
	if r := up.mustRead("PUT"); r.status != 201 {
		t.Fatalf("upload: got %d", r.status)
	}
	if got := metricValue(scrape(t, addr), "httpbox_uploads_in_flight"); got != 0 {
		t.Errorf("uploads in flight after the upload: got %v, want 0", got)
	}

	resp, err := http.Get("http://" + addr + "/files/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("metrics port, /files/a.txt: got %d, want 404", resp.StatusCode)
	}
}

// TestMetricsPublicPortRefused: --metrics-listen on the public port exits 2.
func TestMetricsPublicPortRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	code, _, stderr := runBinary(t, nil, "--directory", t.TempDir(), "--host", "127.0.0.1", "--port", port, "--metrics-listen", "0.0.0.0:"+port)
	if code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 2 and one line", code, stderr)
	}
	code, _, stderr = runBinary(t, nil, "--directory", t.TempDir(), "--metrics-listen", "nonsense")
	if code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad address: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
}

// TestMetricsStorageErrors: a failing store's answers, on the file routes
// only, count as storage errors of their kind.
func TestMetricsStorageErrors(t *testing.T) {
	m := newServerMetrics("s3", newConnSet(0, 0))
	l := newAccessLog(io.Discard, true)
	defer l.Close()
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/files/a", fasthttp.StatusInsufficientStorage},
		{"/dav/a", fasthttp.StatusServiceUnavailable},
		{"/files/b", fasthttp.StatusGatewayTimeout},
		{"/echo/a", fasthttp.StatusServiceUnavailable}, // not the store's
		{"/files/c", fasthttp.StatusNotFound},          // not an error of the store
	} {
		ctx := logTestCtx(l, "GET", tt.target)
		ctx.SetStatusCode(tt.status)
		m.request(ctx, true, time.Millisecond, 10, 5)
	}
	var out strings.Builder
	m.set.WritePrometheus(&out)
	for _, want := range []string{
		`httpbox_storage_errors_total{backend="s3",kind="no_space"} 1`,
		`httpbox_storage_errors_total{backend="s3",kind="unavailable"} 1`,
		`httpbox_storage_errors_total{backend="s3",kind="timeout"} 1`,
		`httpbox_storage_errors_total{backend="s3",kind="upstream"} 0`,
		`httpbox_requests_total{route="echo",status="5xx"} 1`,
		`httpbox_requests_total{route="files",status="4xx"} 1`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
}
