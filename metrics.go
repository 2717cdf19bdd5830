package main

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Routes and status classes are labels with a small fixed set of values,
// never the raw path: a scanner trying a million paths must not create a
// million series.
var (
	metricRoutes  = [...]string{"echo", "user-agent", "files", "dav", "other"}
	statusClasses = [...]string{"2xx", "3xx", "4xx", "5xx"}
	// storageErrorKinds are the store's failures as the client sees them
	// (see fileErrorStatus), by the status they map to.
	storageErrorKinds = [...]struct {
		status int
		kind   string
	}{
		{fasthttp.StatusInternalServerError, "internal"},
		{fasthttp.StatusBadGateway, "upstream"},
		{fasthttp.StatusServiceUnavailable, "unavailable"},
		{fasthttp.StatusGatewayTimeout, "timeout"},
		{fasthttp.StatusInsufficientStorage, "no_space"},
	}
	// Request durations: from a cached echo (well under a millisecond) to
	// a large download on a slow link (minutes).
	durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
)

const (
	routeEcho = iota
	routeUserAgent
	routeFiles
	routeDAV
	routeOther
)

// serverMetrics are the server's Prometheus series. Every counter exists
// from the start, so that a request only indexes a small array: no name is
// built and nothing allocated on the hot path, and a scrape shows zeros
// rather than missing series.
type serverMetrics struct {
	set           *metrics.Set
	requests      [len(metricRoutes)][len(statusClasses)]*metrics.Counter
	duration      *metrics.PrometheusHistogram
	received      *metrics.Counter
	sent          *metrics.Counter
	storageErrors [len(storageErrorKinds)]*metrics.Counter
	uploads       atomic.Int64
}

// newServerMetrics creates the series; backend ("dir" or "s3") labels the
// storage errors, conns gives the open and lingering connections.
func newServerMetrics(backend string, conns *connSet) *serverMetrics {
	m := &serverMetrics{set: metrics.NewSet()}
	for r, route := range metricRoutes {
		for c, class := range statusClasses {
			m.requests[r][c] = m.set.NewCounter(`httpbox_requests_total{route="` + route + `",status="` + class + `"}`)
		}
	}
	m.duration = m.set.NewPrometheusHistogramExt("httpbox_request_duration_seconds", durationBuckets)
	m.received = m.set.NewCounter("httpbox_received_bytes_total")
	m.sent = m.set.NewCounter("httpbox_sent_body_bytes_total")
	for i, k := range storageErrorKinds {
		m.storageErrors[i] = m.set.NewCounter(`httpbox_storage_errors_total{backend="` + backend + `",kind="` + k.kind + `"}`)
	}
	m.set.NewGauge("httpbox_open_connections", func() float64 { return float64(conns.openCount()) })
	m.set.NewGauge("httpbox_lingering_connections", func() float64 { return float64(conns.lingering.Load()) })
	m.set.NewGauge("httpbox_uploads_in_flight", func() float64 { return float64(m.uploads.Load()) })
	return m
}

// request counts a request that ended (see handler.finish): route, status
// class, duration, the bytes received from its connection since the last
// request ended, and its body bytes sent. A request fasthttp could not
// parse counts under "other".
func (m *serverMetrics) request(ctx *fasthttp.RequestCtx, parsed bool, elapsed time.Duration, received, sent int64) {
	route := routeOther
	if parsed {
		route = routeOf(ctx.Request.URI().PathOriginal())
	}
	status := ctx.Response.StatusCode()
	m.requests[route][min(max(status/100, 2), 5)-2].Inc()
	m.duration.Update(elapsed.Seconds())
	m.received.AddInt64(received)
	m.sent.AddInt64(max(sent, 0))
	// Only the file routes reach the store; elsewhere a 5xx is not the
	// store's. A panic in a file handler counts as "internal", as does
	// any error fileErrorStatus does not know.
	if route == routeFiles || route == routeDAV {
		for i, k := range storageErrorKinds {
			if k.status == status {
				m.storageErrors[i].Inc()
			}
		}
	}
}

// routeOf names the route of a request path for the requests counter.
func routeOf(path []byte) int {
	switch {
	case isEchoPath(path):
		return routeEcho
	case string(path) == "/user-agent":
		return routeUserAgent
	case bytes.HasPrefix(path, []byte(filesPrefix)):
		return routeFiles
	case isDAVPath(path):
		return routeDAV
	}
	return routeOther
}

// countUploads wraps the server's handler to count the uploads in flight:
// a PUT or POST is one from the moment its head is read (its body still
// streaming in) until its answer is written, which for a write is always
// held in memory, so it ends before next returns.
func (m *serverMetrics) countUploads(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsPut() && !ctx.IsPost() {
			next(ctx)
			return
		}
		m.uploads.Add(1)
		defer m.uploads.Add(-1)
		next(ctx)
	}
}

// metricsServer serves m at /metrics, with the Go runtime, process and
// descriptor metrics, and 404 for anything else. It runs on a listener of its own
// (--metrics-listen), never on the public port: the metrics tell what the
// server does, which is not the public's business.
func metricsServer(m *serverMetrics, logger *accessLog) *fasthttp.Server {
	// Prometheus reads the types from the metadata lines.
	metrics.ExposeMetadata(true)
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) != "/metrics" || !(ctx.IsGet() || ctx.IsHead()) {
				writeError(ctx, fasthttp.StatusNotFound, "not found")
				return
			}
			ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
			m.set.WritePrometheus(ctx)
			metrics.WriteProcessMetrics(ctx)
			// Descriptors are what connections run out of first (see
			// connectionLimit); counting them reads /proc/self/fd, a cost
			// paid per scrape, not per request.
			metrics.WriteFDMetrics(ctx)
		},
		ReadTimeout:           defaultReadTimeout,
		WriteTimeout:          defaultWriteTimeout,
		IdleTimeout:           defaultIdleTimeout,
		NoDefaultServerHeader: true,
		Logger:                logger,
	}
}
