package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// gatedWriter blocks every write until gate is closed, as a pipe whose
// reader has stopped reading does; then it writes to sink.
type gatedWriter struct {
	gate    chan struct{}
	entered chan struct{} // receives once a write is waiting
	sink    *lockedBuffer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.gate
	return w.sink.Write(p)
}

// brokenPipeWriter writes to a pipe whose reader is gone (EPIPE) while
// broken is set, and to sink otherwise.
type brokenPipeWriter struct {
	broken  atomic.Bool
	pipe    *os.File
	sink    *lockedBuffer
	mu      sync.Mutex
	refused bytes.Buffer // what the broken pipe refused
	errs    []error
}

func (w *brokenPipeWriter) Write(p []byte) (int, error) {
	if !w.broken.Load() {
		return w.sink.Write(p)
	}
	n, err := w.pipe.Write(p)
	w.mu.Lock()
	w.refused.Write(p[n:])
	w.errs = append(w.errs, err)
	w.mu.Unlock()
	return n, err
}

func (w *brokenPipeWriter) refusedText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused.String()
}

// logTestCtx is a finished request as a handler leaves it: method and
// target as sent, a 200 with a 5-byte body, and l as its ctx.Logger.
func logTestCtx(l *accessLog, method, target string, headers ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(target)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7).To4(), Port: 40000}, l)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBodyString("hello")
	return ctx
}

// within runs f and fails the test if it has not returned after d: a
// guard against blocking, not a timing assertion.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var dropReport = regexp.MustCompile(`(?m)^\S+ httpbox: (\d+) log lines dropped \(stderr could not keep up\)$`)

// reportedDrops sums the drop counts the log reported.
func reportedDrops(t *testing.T, out string) int {
	t.Helper()
	total := 0
	for _, m := range dropReport.FindAllStringSubmatch(out, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// TestLogStuckWriterRequestsDoNotWait: when nobody reads stderr, requests
// still finish; the log's memory stays bounded, the lines that did not
// fit are dropped, and once the writer moves again their count is logged.
// Every line is either written or counted.
func TestLogStuckWriterRequestsDoNotWait(t *testing.T) {
	sink := &lockedBuffer{}
	w := &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1), sink: sink}
	l := newAccessLog(w, false)
	var unblock sync.Once
	t.Cleanup(func() {
		unblock.Do(func() { close(w.gate) })
		l.Close()
	})
	ctx := logTestCtx(l, "GET", "/stuck/"+strings.Repeat("a", 200))

	// The flusher takes the first line and then waits for the reader.
	l.request(ctx, ended{})
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the flusher never wrote")
	}

	const requests = 10_000 // 2.5 MB of lines, more than the log may hold
	within(t, 10*time.Second, "logging requests while stderr is stuck", func() {
		for range requests {
			l.request(ctx, ended{})
		}
	})
	l.mu.Lock()
	pending := len(l.buf)
	l.mu.Unlock()
	if pending > logMaxPending {
		t.Errorf("pending log bytes: %d, bound %d", pending, logMaxPending)
	}

	unblock.Do(func() { close(w.gate) })
	waitFor(t, "the drop count", func() bool { return dropReport.MatchString(sink.String()) })
	within(t, 10*time.Second, "Close", func() { l.Close() })

	out := sink.String()
	written := strings.Count(out, " GET /stuck/")
	dropped := reportedDrops(t, out)
	if dropped == 0 {
		t.Errorf("no lines dropped, yet %d bytes of lines did not fit", requests*250)
	}
	if written+dropped != 1+requests {
		t.Errorf("%d lines written + %d reported dropped, want %d in all", written, dropped, 1+requests)
	}
}

// TestLogWriteErrorCountedAndReported: a write that fails (EPIPE: the
// reader is gone) neither panics nor stops the log; its lines are counted
// as dropped, and the count is logged once writing works again.
func TestLogWriteErrorCountedAndReported(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	t.Cleanup(func() { pw.Close() })
	sink := &lockedBuffer{}
	w := &brokenPipeWriter{pipe: pw, sink: sink}
	w.broken.Store(true)
	l := newAccessLog(w, false)
	t.Cleanup(func() { l.Close() })

	before := logTestCtx(l, "GET", "/before")
	within(t, 10*time.Second, "logging into a broken pipe", func() {
		for range 5 {
			l.request(before, ended{})
		}
		l.Printf("the last message before the reader came back")
	})
	waitFor(t, "the broken pipe to refuse every line", func() bool {
		return strings.Contains(w.refusedText(), "the last message before")
	})
	w.mu.Lock()
	for _, err := range w.errs {
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("the broken pipe's error: %v, want EPIPE", err)
		}
	}
	w.mu.Unlock()

	w.broken.Store(false)
	l.request(logTestCtx(l, "GET", "/after"), ended{sent: 5})
	within(t, 10*time.Second, "Close", func() { l.Close() })

	out := sink.String()
	if !strings.Contains(out, " GET /after 200 5 ") {
		t.Errorf("the line logged after the reader came back is missing:\n%s", out)
	}
	if strings.Contains(out, "/before") {
		t.Errorf("a refused line was written later:\n%s", out)
	}
	if got := reportedDrops(t, out); got != 6 {
		t.Errorf("reported %d dropped lines, want 6:\n%s", got, out)
	}
}

// unescapeLog undoes appendSafe's escaping.
func unescapeLog(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q at %d", s, i)
			}
			b.WriteByte(byte(v))
			i += 3
		default:
			t.Fatalf("bad escape in %q at %d", s, i)
		}
	}
	return b.String()
}

// TestLogEscapesNonPrintable: every byte that is not printable ASCII is
// escaped as \xHH, in access lines and messages alike (NEL, U+2028 and
// U+202E included, so no request forges or reorders a log record), the
// backslash as \\, and the escaping can be undone.
func TestLogEscapesNonPrintable(t *testing.T) {
	sink := &lockedBuffer{}
	l := newAccessLog(sink, false)
	method := "G\x7fT\\\x01"
	var target strings.Builder
	target.WriteString("/t\\x41")
	for c := range 0x20 {
		if c != '\r' && c != '\n' { // fasthttp turns these into spaces
			target.WriteByte(byte(c))
		}
	}
	target.WriteString("\x7f\u0085\u2028\u2029\u202e")
	for c := 0x80; c <= 0xff; c++ {
		target.WriteByte(byte(c))
	}
	target.WriteString("end")
	l.request(logTestCtx(l, method, target.String()), ended{})
	l.Printf("message %s\r\n%s", target.String(), "forged")
	l.Printf("%s", "\\x0a is not a newline")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	out := sink.String()
	for i := 0; i < len(out); i++ {
		if c := out[i]; (c < 0x20 || c >= 0x7f) && c != '\n' {
			t.Fatalf("byte %#02x at %d reached the log unescaped:\n%q", c, i, out)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out)
	}
	fields := strings.Fields(lines[0])
	if len(fields) != 7 {
		t.Fatalf("access line %q: %d fields, want 7", lines[0], len(fields))
	}
	if got := unescapeLog(t, fields[2]); got != method {
		t.Errorf("method logged as %s, unescapes to %q, want %q", fields[2], got, method)
	}
	if got := unescapeLog(t, fields[3]); got != target.String() {
		t.Errorf("target logged as %s, unescapes to %q, want %q", fields[3], got, target.String())
	}
	if !strings.Contains(fields[3], `\x1b\x1c`) || !strings.Contains(fields[3], `\xe2\x80\xa8`) || !strings.HasPrefix(fields[3], `/t\\x41`) {
		t.Errorf("target logged as %s", fields[3])
	}
	_, msg, _ := strings.Cut(lines[1], " message ")
	if got := unescapeLog(t, msg); got != target.String()+"\r\nforged" {
		t.Errorf("message logged as %s, unescapes to %q", msg, got)
	}
	if !strings.HasSuffix(lines[2], ` \\x0a is not a newline`) {
		t.Errorf("a backslash in a message: %q", lines[2])
	}
}

// TestLogQuietNothingPerRequest: with quiet, requests produce nothing:
// no access line, and no per-request error from fasthttp or a handler.
// Only the server's own messages are logged, and a handler's panic (a
// bug, which TestPanicIsContained wants seen even with quiet).
func TestLogQuietNothingPerRequest(t *testing.T) {
	sink := &lockedBuffer{}
	l := newAccessLog(sink, true)
	for range 100 {
		ctx := logTestCtx(l, "GET", "/quiet")
		l.request(ctx, ended{})
		l.unparsed(ctx, ended{})
		ctx.Logger().Printf("seek: %v", io.ErrUnexpectedEOF)
		ctx.Logger().Printf("%v", errors.New("open x: read-only file system"))
		l.Printf("error when serving connection %q<->%q: %v", ctx.LocalAddr(), ctx.RemoteAddr(),
			errors.New(`error when reading request headers: invalid header value "x"`))
	}
	l.Printf("removed %d stale temporary file(s) left by an interrupted upload", 1)
	logTestCtx(l, "GET", "/bug").Logger().Printf("panic: %v\n%s", "disk on fire", "goroutine 1 [running]:")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := sink.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "removed 1 stale temporary file(s)") ||
		!strings.Contains(out, " GET /bug: panic: disk on fire\\x0agoroutine 1 [running]:\n") {
		t.Errorf("quiet log: got\n%s\nwant only the server's own message and the panic", out)
	}
}

// TestLogCloseFlushesPending: Close writes every line logged before it,
// even to a slow writer; a writer that never returns makes Close give
// up (after logCloseWait) and say how much was lost, not hang.
func TestLogCloseFlushesPending(t *testing.T) {
	t.Run("slow writer", func(t *testing.T) {
		sink := &lockedBuffer{}
		slow := writerFunc(func(p []byte) (int, error) {
			time.Sleep(20 * time.Millisecond)
			return sink.Write(p)
		})
		l := newAccessLog(slow, false)
		ctx := logTestCtx(l, "GET", "/pending")
		for range 2000 {
			l.request(ctx, ended{})
		}
		l.Printf("the last line")
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		out := sink.String()
		if got := strings.Count(out, " GET /pending 200 "); got != 2000 {
			t.Errorf("%d of 2000 access lines written", got)
		}
		if !strings.HasSuffix(out, " the last line\n") {
			t.Errorf("the last line is missing")
		}
	})
	t.Run("stuck writer", func(t *testing.T) {
		w := &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1), sink: &lockedBuffer{}}
		t.Cleanup(func() { close(w.gate) })
		l := newAccessLog(w, false)
		ctx := logTestCtx(l, "GET", "/stuck")
		l.request(ctx, ended{})
		<-w.entered
		l.request(ctx, ended{})
		var err error
		within(t, logCloseWait+10*time.Second, "Close with a stuck writer", func() { err = l.Close() })
		if err == nil {
			t.Error("Close with a stuck writer: no error")
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestLogNoHeaderValues serves requests through a real fasthttp server
// whose Logger is the access log: neither its per-request messages (a
// handler's ctx.Logger) nor its errors about requests it could not parse
// (which quote the head) may carry header values: no Authorization, no
// Cookie, not even Host; with SecureErrorLogMessage or without. Nor the
// meaningless connection duration.
func TestLogNoHeaderValues(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("SecureErrorLogMessage=%v", secure), func(t *testing.T) { logNoHeaderValues(t, secure) })
	}
}

func logNoHeaderValues(t *testing.T, secure bool) {
	sink := &lockedBuffer{}
	l := newAccessLog(sink, false)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Logger().Printf("handler failed on purpose")
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		},
		Logger:                l,
		SecureErrorLogMessage: secure,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	const secrets = "Host: sekrit-host.example\r\nAuthorization: Bearer sekrit-token\r\nCookie: session=sekrit-cookie\r\n"
	for _, request := range []string{
		"GET /ok?q=1 HTTP/1.1\r\n" + secrets + "Connection: close\r\n\r\n",
		"GET /no-version\r\n" + secrets + "\r\n",
		"GET / HTTP/1.1\r\n" + secrets + "X-Bad: sekrit\x01value\r\n\r\n",
		"BAD\x01METHOD / HTTP/1.1\r\n" + secrets + "\r\n",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		// The server closes every one of these connections; it logs its
		// error before it does.
		if _, err := io.Copy(io.Discard, bufio.NewReader(c)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if err := srv.Shutdown(); err != nil {
		t.Fatal(err)
	}
	<-served
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	out := sink.String()
	if !strings.Contains(out, " GET /ok?q=1: handler failed on purpose\n") {
		t.Errorf("the handler's message, with its request, is missing:\n%s", out)
	}
	if !strings.Contains(out, " connection error: ") {
		t.Errorf("no message about the malformed requests:\n%s", out)
	}
	for _, leak := range []string{"sekrit", "9223372036"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log carries %q:\n%s", leak, out)
		}
	}
}

// TestLogMessagesCapped: one message is at most logMaxMessage bytes once
// escaped, however long what it quotes is.
func TestLogMessagesCapped(t *testing.T) {
	sink := &lockedBuffer{}
	l := newAccessLog(sink, false)
	l.Printf("huge: %s", strings.Repeat("\x01", 64<<10))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := sink.String()
	if len(out) > logMaxMessage+100 || !strings.HasSuffix(out, " more bytes)\n") {
		t.Errorf("a 64 KiB message logged as %d bytes: %.200s...", len(out), out)
	}
	if got := strings.Count(out, "\n"); got != 1 {
		t.Errorf("%d lines, want 1", got)
	}
}
