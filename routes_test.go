package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/httpbox/httpbox/internal/store"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// testConfig is the configuration the in-memory tests start from.
func testConfig(root string) config {
	return config{
		root:            root,
		maxBodySize:     1 << 20,
		readTimeout:     5 * time.Second,
		writeTimeout:    5 * time.Second,
		idleTimeout:     5 * time.Second,
		shutdownTimeout: 5 * time.Second,
		quiet:           true,
	}
}

// testServer is the real handler served on an in-memory listener.
type testServer struct {
	client *fasthttp.Client
	ln     *fasthttputil.InmemoryListener
	root   string
}

// newTestServer serves cfg.root (a t.TempDir() unless set) on an in-memory
// listener; the server stops when the test ends.
func newTestServer(t *testing.T, edit func(*config)) *testServer {
	t.Helper()
	cfg := testConfig(t.TempDir())
	if edit != nil {
		edit(&cfg)
	}
	logger := newAccessLog(io.Discard, cfg.quiet)
	t.Cleanup(func() { logger.Close() })
	srv := newServer(cfg, testBackend(t, cfg.root), logger)
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck // Serve ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	client := &fasthttp.Client{
		Dial:                          func(string) (net.Conn, error) { return ln.Dial() },
		DisableHeaderNamesNormalizing: false,
		DisablePathNormalizing:        true, // send hostile paths as written
	}
	return &testServer{client: client, ln: ln, root: cfg.root}
}

// testBackend is what the server uses for a directory: the directory
// backend behind the cache.
func testBackend(tb testing.TB, dir string) store.Backend {
	return cachedDir(testDir(tb, dir))
}

// testDir is the directory backend on dir, closed when the test ends.
func testDir(tb testing.TB, dir string) *store.Dir {
	tb.Helper()
	d, err := store.NewDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// response is what a test request got back, copied out of fasthttp's pools.
type response struct {
	status int
	header map[string]string
	body   []byte
}

func (r response) get(name string) string { return r.header[strings.ToLower(name)] }

// do sends one request; header lines are "Name: value".
func (s *testServer) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://httpbox" + path)
	for _, h := range header {
		if h == "" {
			continue
		}
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	if body != "" || method == fasthttp.MethodPost || method == fasthttp.MethodPut {
		req.SetBodyString(body)
	}
	resp.SkipBody = method == fasthttp.MethodHead
	if err := s.client.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[strings.ToLower(string(k))] = string(v)
	}
	return r
}

// raw sends bytes on a fresh in-memory connection and reads what comes back
// until the server closes it or wait passes.
func (s *testServer) raw(t *testing.T, request string, wait time.Duration) (reply string, closed bool) {
	t.Helper()
	c, err := s.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			var timeout interface{ Timeout() bool }
			return out.String(), !(errors.As(err, &timeout) && timeout.Timeout())
		}
	}
}

// makeFS builds a tree under dir from a compact spec, as src/os/root_test.go
// does: "d/" is a directory, "f" an empty file, "f=text" a file with
// content, "link => target" a symlink.
func makeFS(t *testing.T, dir string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		p := filepath.Join(dir, strings.Fields(s)[0])
		switch {
		case strings.Contains(s, " => "):
			name, target, _ := strings.Cut(s, " => ")
			p = filepath.Join(dir, name)
			mustDo(t, os.MkdirAll(filepath.Dir(p), 0o755))
			mustDo(t, os.Symlink(target, p))
		case strings.HasSuffix(s, "/"):
			mustDo(t, os.MkdirAll(p, 0o755))
		default:
			name, content, _ := strings.Cut(s, "=")
			p = filepath.Join(dir, name)
			mustDo(t, os.MkdirAll(filepath.Dir(p), 0o755))
			mustDo(t, os.WriteFile(p, []byte(content), 0o644))
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	makeFS(t, s.root, "hello.txt=hello", "dir/", "dir/nested.txt=deep")
	tests := []struct {
		name, method, path, body string
		header                   []string
		wantCode                 int
		wantBody                 string // checked when not empty
		emptyBody                bool   // the body must be empty
		wantHeader               []string
	}{
		{name: "root", method: "GET", path: "/", wantCode: 200, emptyBody: true, wantHeader: []string{"Content-Length: 0"}},
		{name: "root head", method: "HEAD", path: "/", wantCode: 200, wantHeader: []string{"Content-Length: 0"}},
		{name: "healthz", method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "echo", method: "GET", path: "/echo/abc", wantCode: 200, wantBody: "abc",
			wantHeader: []string{"Content-Type: text/plain", "X-Content-Type-Options: nosniff", "Vary: Accept-Encoding", "Content-Length: 3"}},
		{name: "echo decoded", method: "GET", path: "/echo/hello%20world%2Fx", wantCode: 200, wantBody: "hello world/x"},
		{name: "echo plus stays", method: "GET", path: "/echo/a+b", wantCode: 200, wantBody: "a+b"},
		{name: "echo head", method: "HEAD", path: "/echo/abc", wantCode: 200, wantHeader: []string{"Content-Length: 3", "Content-Type: text/plain"}},
		{name: "echo two segments", method: "GET", path: "/echo/a/b", wantCode: 404},
		{name: "echo bad escape", method: "GET", path: "/echo/%zz", wantCode: 400, wantHeader: []string{"Connection: close"}},
		{name: "user-agent", method: "GET", path: "/user-agent", header: []string{"User-Agent: probe/1.0"}, wantCode: 200, wantBody: "probe/1.0",
			wantHeader: []string{"Content-Type: text/plain", "Vary: Accept-Encoding"}},
		{name: "unknown path", method: "GET", path: "/nope", wantCode: 404, wantBody: "not found\n",
			wantHeader: []string{"Content-Type: text/plain; charset=utf-8"}},
		{name: "no redirect for trailing slash", method: "GET", path: "/healthz/", wantCode: 404},
		{name: "no redirect for case", method: "GET", path: "/Healthz", wantCode: 404},
		{name: "405 with Allow", method: "POST", path: "/echo/x", wantCode: 405, wantHeader: []string{"Allow: GET, HEAD, OPTIONS"}},
		{name: "405 on healthz", method: "DELETE", path: "/healthz", wantCode: 405},
		{name: "file get", method: "GET", path: "/files/hello.txt", wantCode: 200, wantBody: "hello",
			wantHeader: []string{"Content-Type: text/plain; charset=utf-8", "X-Content-Type-Options: nosniff", "Content-Length: 5", "Accept-Ranges: bytes"}},
		{name: "file head", method: "HEAD", path: "/files/hello.txt", wantCode: 200,
			wantHeader: []string{"Content-Length: 5", "Accept-Ranges: bytes", "Content-Type: text/plain; charset=utf-8"}},
		{name: "nested file", method: "GET", path: "/files/dir/nested.txt", wantCode: 200, wantBody: "deep"},
		{name: "missing file", method: "GET", path: "/files/missing", wantCode: 404},
		{name: "directory is listed", method: "GET", path: "/files/dir", wantCode: 200, wantBody: "nested.txt\n",
			wantHeader: []string{"Content-Type: text/plain; charset=utf-8", "Vary: Accept"}},
		{name: "directory with slash is listed", method: "GET", path: "/files/dir/", wantCode: 200, wantBody: "nested.txt\n"},
		{name: "a file with a slash is 404", method: "GET", path: "/files/dir/nested.txt/", wantCode: 404},
		{name: "write to a slash path is 400", method: "PUT", path: "/files/dir/", body: "x", wantCode: 400},
		{name: "under a file is 404", method: "GET", path: "/files/hello.txt/x", wantCode: 404},
		{name: "files without slash", method: "GET", path: "/files", wantCode: 404},
		{name: "delete missing", method: "DELETE", path: "/files/missing", wantCode: 404},
		{name: "delete non-empty dir", method: "DELETE", path: "/files/dir", wantCode: 409},
		{name: "put onto a directory", method: "PUT", path: "/files/dir", body: "x", wantCode: 409},
		{name: "put under a file", method: "PUT", path: "/files/hello.txt/x", body: "x", wantCode: 409},
		{name: "files 405", method: "PATCH", path: "/files/hello.txt", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.wantCode {
				t.Fatalf("%s %s: got status %d, want %d (body %q)", tt.method, tt.path, r.status, tt.wantCode, r.body)
			}
			if tt.wantBody != "" && string(r.body) != tt.wantBody {
				t.Errorf("got body %q, want %q", r.body, tt.wantBody)
			}
			if tt.emptyBody && len(r.body) != 0 {
				t.Errorf("got body %q, want none", r.body)
			}
			for _, h := range tt.wantHeader {
				k, v, _ := strings.Cut(h, ": ")
				if got := r.get(k); got != v {
					t.Errorf("got %s %q, want %q", k, got, v)
				}
			}
			if r.get("Server") != "" {
				t.Errorf("got Server %q, want none", r.get("Server"))
			}
			if _, err := time.Parse(time.RFC1123, r.get("Date")); err != nil {
				t.Errorf("Date %q: %v", r.get("Date"), err)
			}
		})
	}
}

func TestHeadMatchesGet(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	makeFS(t, s.root, "f=0123456789")
	for _, path := range []string{"/", "/healthz", "/echo/x%20y", "/user-agent", "/files/f", "/files/missing"} {
		get, head := s.do(t, "GET", path, ""), s.do(t, "HEAD", path, "")
		if head.status != get.status || len(head.body) != 0 {
			t.Errorf("HEAD %s: got %d with %d body bytes, want %d and none", path, head.status, len(head.body), get.status)
		}
		for _, k := range []string{"Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges", "Vary"} {
			if head.get(k) != get.get(k) {
				t.Errorf("HEAD %s: got %s %q, GET has %q", path, k, head.get(k), get.get(k))
			}
		}
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	tests := []struct {
		accept string
		want   bool
	}{
		{"gzip", true},
		{"GZIP", true},
		{"br, gzip;q=0.5", true},
		{"deflate , gzip , br", true},
		{"gzip;q=1.0", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0.001", true},
		{"br", false},
		{"identity", false},
		{"", false},
		{"gzipx", false},
	}
	for _, tt := range tests {
		for _, path := range []string{"/echo/compress-me-compress-me", "/user-agent"} {
			r := s.do(t, "GET", path, "", "Accept-Encoding: "+tt.accept, "User-Agent: compress-me-compress-me")
			if r.get("Vary") != "Accept-Encoding" {
				t.Errorf("%s with %q: got Vary %q, want Accept-Encoding", path, tt.accept, r.get("Vary"))
			}
			if got := r.get("Content-Encoding") == "gzip"; got != tt.want {
				t.Errorf("%s with Accept-Encoding %q: compressed %v, want %v", path, tt.accept, got, tt.want)
				continue
			}
			if r.get("Content-Length") != itoaLen(r.body) {
				t.Errorf("%s: got Content-Length %s for %d bytes", path, r.get("Content-Length"), len(r.body))
			}
			body := r.body
			if tt.want {
				zr, err := gzip.NewReader(bytes.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if string(body) != "compress-me-compress-me" {
				t.Errorf("%s with %q: got body %q", path, tt.accept, body)
			}
		}
	}
	if r := s.do(t, "GET", "/files/missing", "", "Accept-Encoding: gzip"); r.get("Content-Encoding") != "" {
		t.Errorf("error responses must not claim gzip, got %q", r.get("Content-Encoding"))
	}
}

func itoaLen(b []byte) string { return fasthttpItoa(len(b)) }

func fasthttpItoa(n int) string { return string(fasthttp.AppendUint(nil, n)) }

func TestFileLifecycle(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)

	r := s.do(t, "POST", "/files/a/b/c.txt", "first")
	if r.status != 201 || r.get("Location") != "/files/a/b/c.txt" {
		t.Fatalf("POST new: got %d Location %q, want 201 /files/a/b/c.txt", r.status, r.get("Location"))
	}
	r = s.do(t, "POST", "/files/a/b/c.txt", "second")
	if r.status != 201 {
		t.Fatalf("POST replace: got %d, want 201", r.status)
	}
	if r = s.do(t, "GET", "/files/a/b/c.txt", ""); string(r.body) != "second" {
		t.Fatalf("GET after POST: got %q, want %q", r.body, "second")
	}
	r = s.do(t, "PUT", "/files/p.bin", "\x00\x01binary\xff")
	if r.status != 201 || r.get("Location") != "/files/p.bin" {
		t.Fatalf("PUT new: got %d Location %q, want 201", r.status, r.get("Location"))
	}
	if r = s.do(t, "PUT", "/files/p.bin", "v2"); r.status != 204 {
		t.Fatalf("PUT replace: got %d, want 204", r.status)
	}
	if r = s.do(t, "PUT", "/files/empty", ""); r.status != 201 {
		t.Fatalf("PUT empty: got %d, want 201", r.status)
	}
	if r = s.do(t, "GET", "/files/empty", ""); r.status != 200 || len(r.body) != 0 || r.get("Content-Length") != "0" {
		t.Fatalf("GET empty: got %d %q Content-Length %q", r.status, r.body, r.get("Content-Length"))
	}
	onDisk, err := os.ReadFile(filepath.Join(s.root, "p.bin"))
	if err != nil || string(onDisk) != "v2" {
		t.Fatalf("on disk: got %q, %v; want v2", onDisk, err)
	}
	if r = s.do(t, "DELETE", "/files/p.bin", ""); r.status != 204 {
		t.Fatalf("DELETE: got %d, want 204", r.status)
	}
	if r = s.do(t, "GET", "/files/p.bin", ""); r.status != 404 {
		t.Fatalf("GET deleted: got %d, want 404", r.status)
	}
	if r = s.do(t, "DELETE", "/files/a/b", ""); r.status != 409 {
		t.Fatalf("DELETE non-empty dir: got %d, want 409", r.status)
	}
	s.do(t, "DELETE", "/files/a/b/c.txt", "")
	if r = s.do(t, "DELETE", "/files/a/b", ""); r.status != 204 {
		t.Fatalf("DELETE empty dir: got %d, want 204", r.status)
	}
	assertNoTemps(t, s.root)
}

// assertNoTemps fails if an upload left a temporary file under dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	for _, p := range tempFiles(t, dir) {
		t.Errorf("temporary file left behind: %s", p)
	}
}

// TestConfinement tries every way out of the root; each must get a 4xx and
// touch nothing outside.
func TestConfinement(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	makeFS(t, outside, "secret=top secret", "sub/", "sub/inner=inner")
	s := newTestServer(t, func(c *config) {
		c.root = filepath.Join(t.TempDir(), "root")
		mustDo(t, os.Mkdir(c.root, 0o755))
	})
	makeFS(t, s.root,
		"ok=fine",
		"inside/", "inside/file=in",
		"filelink => "+filepath.Join(outside, "secret"),
		"dirlink => "+outside,
		"rellink => ../"+filepath.Base(outside),
		"goodlink => inside/file",
		"gooddir => inside",
		store.TempPrefix+"stale=half",
	)
	paths := []string{
		"../secret", "..%2fsecret", "%2e%2e/secret", "%2E%2E%2Fsecret", "inside/../../secret",
		"..%5csecret", "inside%5c..%5c..%5csecret", "/etc/passwd", "%2fetc%2fpasswd", "//etc/passwd",
		"a%00b", "inside//file", "./ok", "inside/./file", "inside/..", ".", "..", "%2e",
		"dirlink/secret", "dirlink/sub/inner", "rellink/secret", "dirlink/new",
		store.TempPrefix + "stale",
	}
	for _, p := range paths {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			r := s.do(t, method, "/files/"+p, "pwned")
			if r.status < 400 || r.status > 499 {
				t.Errorf("%s /files/%s: got %d, want a 4xx", method, p, r.status)
			}
		}
	}
	// Reading through a link that points out is refused; writing or
	// deleting it acts on the link itself (below).
	if r := s.do(t, "GET", "/files/filelink", ""); r.status < 400 || r.status > 499 {
		t.Errorf("GET /files/filelink: got %d %q, want a 4xx", r.status, r.body)
	}
	// Decoding happens once: %252e is the literal name "%2e".
	if r := s.do(t, "GET", "/files/%252e%252e/secret", ""); r.status != 404 {
		t.Errorf("GET double-encoded dots: got %d, want 404", r.status)
	}
	// Nothing outside changed or appeared.
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "top secret" {
		t.Errorf("outside secret changed: %q", b)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 2 || fileExists(filepath.Join(outside, "new")) {
		t.Errorf("outside dir has %d entries, want 2", len(ents))
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "sub", "inner")); string(b) != "inner" {
		t.Errorf("outside inner changed: %q", b)
	}
	// Symlinks that stay inside are followed.
	if r := s.do(t, "GET", "/files/goodlink", ""); r.status != 200 || string(r.body) != "in" {
		t.Errorf("GET inside symlink: got %d %q, want 200 in", r.status, r.body)
	}
	if r := s.do(t, "GET", "/files/gooddir/file", ""); r.status != 200 || string(r.body) != "in" {
		t.Errorf("GET via inside dir symlink: got %d %q, want 200 in", r.status, r.body)
	}
	// A write onto a symlink replaces the link, never its target.
	if r := s.do(t, "PUT", "/files/goodlink", "new"); r.status != 204 {
		t.Errorf("PUT onto symlink: got %d, want 204", r.status)
	}
	if b, _ := os.ReadFile(filepath.Join(s.root, "inside", "file")); string(b) != "in" {
		t.Errorf("symlink target changed through the link: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(s.root, "goodlink")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("goodlink after PUT: %v, %v; want a regular file", fi, err)
	}
	if r := s.do(t, "PUT", "/files/filelink", "replaced"); r.status != 204 {
		t.Errorf("PUT onto a link leading out: got %d, want 204 (the link is replaced)", r.status)
	}
	// Deleting a symlink removes the link only.
	if r := s.do(t, "DELETE", "/files/gooddir", ""); r.status != 204 {
		t.Errorf("DELETE dir symlink: got %d, want 204", r.status)
	}
	if _, err := os.Stat(filepath.Join(s.root, "inside", "file")); err != nil {
		t.Errorf("DELETE of a link removed its target: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestTokenAndReadOnly(t *testing.T) {
	t.Parallel()
	tok := newTestServer(t, func(c *config) { c.token = "s3cret" })
	makeFS(t, tok.root, "f=data")
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		for _, auth := range []string{"", "Authorization: Bearer wrong", "Authorization: Basic czNjcmV0", "Authorization: Bearer s3cre"} {
			r := tok.do(t, method, "/files/f", "x", auth)
			// Both challenges are checked in TestBasicAuth; the map
			// keeps one of the two lines.
			if r.status != 401 || r.get("WWW-Authenticate") == "" {
				t.Errorf("%s with %q: got %d WWW-Authenticate %q, want 401 with a challenge", method, auth, r.status, r.get("WWW-Authenticate"))
			}
		}
	}
	if r := tok.do(t, "GET", "/files/f", ""); r.status != 200 || string(r.body) != "data" {
		t.Errorf("GET with token set: got %d %q, want 200 data", r.status, r.body)
	}
	if r := tok.do(t, "PUT", "/files/f", "new", "Authorization: Bearer s3cret"); r.status != 204 {
		t.Errorf("PUT with token: got %d, want 204", r.status)
	}
	if r := tok.do(t, "PUT", "/files/g", "new", "Authorization: bearer s3cret"); r.status != 201 {
		t.Errorf("PUT with lower-case scheme: got %d, want 201", r.status)
	}
	// Refusal order: 401, then 403, then 400, then 413.
	both := newTestServer(t, func(c *config) { c.token = "s3cret"; c.readOnly = true; c.maxBodySize = 4 })
	if r := both.do(t, "PUT", "/files/../x", "too large"); r.status != 401 {
		t.Errorf("token+read-only+bad path+too large: got %d, want 401", r.status)
	}
	if r := both.do(t, "PUT", "/files/../x", "too large", "Authorization: Bearer s3cret"); r.status != 403 {
		t.Errorf("read-only+bad path+too large: got %d, want 403", r.status)
	}
	small := newTestServer(t, func(c *config) { c.maxBodySize = 4 })
	if r := small.do(t, "PUT", "/files/../x", "too large"); r.status != 400 {
		t.Errorf("bad path+too large: got %d, want 400", r.status)
	}
	if r := small.do(t, "PUT", "/files/x", "too large"); r.status != 413 {
		t.Errorf("too large: got %d, want 413", r.status)
	}
	if r := small.do(t, "PUT", "/files/x", "fits"); r.status != 201 {
		t.Errorf("exactly the limit: got %d, want 201", r.status)
	}
	ro := newTestServer(t, func(c *config) { c.readOnly = true })
	makeFS(t, ro.root, "f=data")
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		if r := ro.do(t, method, "/files/f", "x"); r.status != 403 {
			t.Errorf("read-only %s: got %d, want 403", method, r.status)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ro.root, "f")); string(b) != "data" {
		t.Errorf("read-only file changed: %q", b)
	}
}

func TestTooLargeChunkedLeavesNothing(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.maxBodySize = 10 })
	makeFS(t, s.root, "keep=old")
	req := "PUT /files/keep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
	reply, closed := s.raw(t, req, 2*time.Second)
	if !strings.HasPrefix(reply, "HTTP/1.1 413 ") || !closed {
		t.Fatalf("chunked over the limit: got %q (closed %v), want 413 and close", reply, closed)
	}
	if b, _ := os.ReadFile(filepath.Join(s.root, "keep")); string(b) != "old" {
		t.Errorf("target changed by a refused upload: %q", b)
	}
	assertNoTemps(t, s.root)
}

func TestRangesAndConditionals(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	makeFS(t, s.root, "f=0123456789")
	// An hour old: the date of a file changed within the last second or
	// two is a weak validator (see TestIfRangeDateMustBeStrong).
	hourAgo := time.Now().Add(-time.Hour)
	mustDo(t, os.Chtimes(filepath.Join(s.root, "f"), hourAgo, hourAgo))
	full := s.do(t, "GET", "/files/f", "")
	etag, lastMod := full.get("ETag"), full.get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lastMod == "" {
		t.Fatalf("got ETag %q Last-Modified %q", etag, lastMod)
	}
	tests := []struct {
		name         string
		header       []string
		wantCode     int
		wantBody     string
		contentRange string
	}{
		{"a-b", []string{"Range: bytes=2-4"}, 206, "234", "bytes 2-4/10"},
		{"a-", []string{"Range: bytes=7-"}, 206, "789", "bytes 7-9/10"},
		{"-n", []string{"Range: bytes=-3"}, 206, "789", "bytes 7-9/10"},
		{"past end clamps", []string{"Range: bytes=8-100"}, 206, "89", "bytes 8-9/10"},
		{"suffix longer than file", []string{"Range: bytes=-50"}, 206, "0123456789", "bytes 0-9/10"},
		{"unsatisfiable", []string{"Range: bytes=10-"}, 416, "", "bytes */10"},
		{"zero suffix", []string{"Range: bytes=-0"}, 416, "", "bytes */10"},
		{"multi-range whole", []string{"Range: bytes=0-1,3-4"}, 200, "0123456789", ""},
		{"other unit ignored", []string{"Range: items=0-1"}, 200, "0123456789", ""},
		{"malformed ignored", []string{"Range: bytes=5-2"}, 200, "0123456789", ""},
		{"if-range current", []string{"Range: bytes=0-0", "If-Range: " + etag}, 206, "0", "bytes 0-0/10"},
		{"if-range stale etag", []string{"Range: bytes=0-0", `If-Range: "stale"`}, 200, "0123456789", ""},
		{"if-range date", []string{"Range: bytes=0-0", "If-Range: " + lastMod}, 206, "0", "bytes 0-0/10"},
		{"if-range old date", []string{"Range: bytes=0-0", "If-Range: Mon, 01 Jan 2001 00:00:00 GMT"}, 200, "0123456789", ""},
		{"if-none-match", []string{"If-None-Match: " + etag}, 304, "", ""},
		{"if-none-match weak", []string{"If-None-Match: W/" + etag}, 304, "", ""},
		{"if-none-match list", []string{`If-None-Match: "x", ` + etag}, 304, "", ""},
		{"if-none-match star", []string{"If-None-Match: *"}, 304, "", ""},
		{"if-none-match other", []string{`If-None-Match: "x"`}, 200, "0123456789", ""},
		{"if-modified-since same", []string{"If-Modified-Since: " + lastMod}, 304, "", ""},
		{"if-modified-since later", []string{"If-Modified-Since: " + time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, "", ""},
		{"if-modified-since earlier", []string{"If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT"}, 200, "0123456789", ""},
		{"inm wins over ims", []string{`If-None-Match: "x"`, "If-Modified-Since: " + lastMod}, 200, "0123456789", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "GET", "/files/f", "", tt.header...)
			if r.status != tt.wantCode {
				t.Fatalf("got %d, want %d (body %q)", r.status, tt.wantCode, r.body)
			}
			if tt.wantBody != "" && string(r.body) != tt.wantBody {
				t.Errorf("got body %q, want %q", r.body, tt.wantBody)
			}
			if r.get("Content-Range") != tt.contentRange {
				t.Errorf("got Content-Range %q, want %q", r.get("Content-Range"), tt.contentRange)
			}
			if tt.wantCode == 304 && (len(r.body) != 0 || r.get("ETag") != etag) {
				t.Errorf("304: got body %q ETag %q", r.body, r.get("ETag"))
			}
			if tt.wantCode == 206 && r.get("Content-Length") != itoaLen(r.body) {
				t.Errorf("206: Content-Length %q for %d bytes", r.get("Content-Length"), len(r.body))
			}
		})
	}
	// A write changes the validator.
	s.do(t, "PUT", "/files/f", "0123456789")
	if r := s.do(t, "GET", "/files/f", "", "If-None-Match: "+etag); r.status != 200 {
		t.Errorf("after rewrite, old ETag: got %d, want 200", r.status)
	}
}

// TestConnectionHandling checks keep-alive, pipelining and Connection:
// close on a raw connection.
func TestConnectionHandling(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	pipelined := "GET /echo/one HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /echo/two HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /echo/three HTTP/1.1\r\nHost: x\r\n\r\n"
	reply, closed := s.raw(t, pipelined, 500*time.Millisecond)
	if closed {
		t.Errorf("keep-alive connection was closed")
	}
	if got := bodiesOf(t, reply); strings.Join(got, ",") != "one,two,three" {
		t.Errorf("pipelined: got bodies %q, want one,two,three in order", got)
	}
	reply, closed = s.raw(t, "GET /echo/bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /echo/never HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)
	if !closed || !strings.Contains(reply, "Connection: close") || strings.Contains(reply, "never") {
		t.Errorf("Connection: close: got %q (closed %v)", reply, closed)
	}
	for _, bad := range []string{
		"POST /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /echo/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /files/%g0 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"POST /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"PUT /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nabc",
		"POST /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
	} {
		reply, closed := s.raw(t, bad+"GET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)
		if !strings.HasPrefix(reply, "HTTP/1.1 400 ") || !closed || strings.Contains(reply, "smuggled") {
			t.Errorf("%q: got %q (closed %v), want one 400 and close", bad, reply, closed)
		}
	}
	if _, err := os.Stat(filepath.Join(s.root, "x")); err == nil {
		t.Errorf("a refused request created a file")
	}
	reply, _ = s.raw(t, "GET http://elsewhere/echo/abs HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 300*time.Millisecond)
	if got := bodiesOf(t, reply); len(got) != 1 || got[0] != "abs" {
		t.Errorf("absolute-form: got %q", reply)
	}
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 15<<10) + "\r\n\r\n"
	if reply, _ := s.raw(t, big, 300*time.Millisecond); !strings.HasPrefix(reply, "HTTP/1.1 200 ") {
		t.Errorf("15 KiB header: got %.40q, want 200", reply)
	}
	huge := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	if reply, _ := s.raw(t, huge, 2*time.Second); !strings.HasPrefix(reply, "HTTP/1.1 431 ") {
		t.Errorf("20 KiB header: got %.40q, want 431", reply)
	}
}

// bodiesOf splits a stream of responses and returns their bodies.
func bodiesOf(t *testing.T, stream string) []string {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(stream))
	var bodies []string
	for {
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			return bodies
		}
		bodies = append(bodies, string(resp.Body()))
	}
}

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.maxBodySize = 10; c.token = "tok" })
	tests := []struct {
		name, head string
		want       string
	}{
		{"too large", "PUT /files/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n", "HTTP/1.1 413 "},
		{"no token", "PUT /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "HTTP/1.1 401 "},
		{"bad path", "PUT /files/..%2fx HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "HTTP/1.1 400 "},
		{"acceptable", "PUT /files/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n"},
	}
	for _, tt := range tests {
		reply, _ := s.raw(t, tt.head, 300*time.Millisecond)
		if !strings.HasPrefix(reply, tt.want) {
			t.Errorf("%s: got %q, want it to start with %q", tt.name, reply, tt.want)
		}
		if tt.want == "HTTP/1.1 401 " && !strings.Contains(strings.ToLower(reply), "www-authenticate: bearer") {
			t.Errorf("%s: no WWW-Authenticate in %q", tt.name, reply)
		}
	}
	reply, _ := s.raw(t, tests[3].head+"hello", time.Second)
	if !strings.Contains(reply, "HTTP/1.1 201 ") {
		t.Errorf("after 100 Continue and the body: got %q, want 201", reply)
	}
}

// TestSmallFileCache checks that small files are served from memory, that
// this never serves bytes a write through httpbox has replaced, and that
// changes made on disk behind its back are noticed.
func TestSmallFileCache(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	const cached, unseen = "v1", "X9" // the same size
	// Change the bytes where only a revalidation can see it (by the
	// change time): same size, same inode, mtime put back. Within
	// store.CacheRevalidate of the first GET, only a copy in memory still holds
	// the old bytes. A run slower than that proves nothing and is redone.
	name := filepath.Join(s.root, "c")
	for try := 0; ; try++ {
		makeFS(t, s.root, "c="+cached)
		start := time.Now()
		if r := s.do(t, "GET", "/files/c", ""); r.status != 200 || string(r.body) != cached {
			t.Fatalf("first GET: got %d %q, want 200 %q", r.status, r.body, cached)
		}
		before, err := os.Stat(name)
		mustDo(t, err)
		mustDo(t, os.WriteFile(name, []byte(unseen), 0o644))
		mustDo(t, os.Chtimes(name, time.Time{}, before.ModTime()))
		if after, err := os.Stat(name); err != nil || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
			t.Fatalf("the file could not be changed unseen: before %v, after %v (%v)", before, after, err)
		}
		r := s.do(t, "GET", "/files/c", "")
		if time.Since(start) >= store.CacheRevalidate && try < 5 {
			continue
		}
		if r.status != 200 || string(r.body) != cached {
			t.Fatalf("second GET: got %d %q, want the cached %q (the disk holds %q): not served from memory", r.status, r.body, cached, unseen)
		}
		break
	}

	s.do(t, "PUT", "/files/c", "v2-through-httpbox")
	if r := s.do(t, "GET", "/files/c", ""); string(r.body) != "v2-through-httpbox" {
		t.Fatalf("GET after PUT: got %q, want the new body at once", r.body)
	}
	s.do(t, "DELETE", "/files/c", "")
	if r := s.do(t, "GET", "/files/c", ""); r.status != 404 {
		t.Fatalf("GET after DELETE: got %d, want 404", r.status)
	}
	makeFS(t, s.root, "ext=old")
	s.do(t, "GET", "/files/ext", "")
	mustDo(t, os.WriteFile(filepath.Join(s.root, "ext"), []byte("changed on disk"), 0o644))
	var last []byte
	if !pollUntil(store.CacheRevalidate+2*time.Second, func() bool {
		last = s.do(t, "GET", "/files/ext", "").body
		return string(last) == "changed on disk"
	}) {
		t.Fatalf("a change on disk was not noticed within %v: still %q", store.CacheRevalidate, last)
	}
}

// panicStore is a backend whose reads panic.
type panicStore struct{ store.Backend }

func (panicStore) CheckName(string) error { return nil }

func (panicStore) Open(context.Context, string, store.Range) (store.Object, error) {
	panic("disk on fire")
}

func TestPanicIsContained(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	logger := newAccessLog(&logged, true)
	srv := newServer(testConfig(t.TempDir()), panicStore{}, logger)
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck // ends with the listener
	defer srv.Shutdown()
	s := &testServer{client: &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}, ln: ln}
	if r := s.do(t, "GET", "/files/x", ""); r.status != 500 {
		t.Fatalf("GET through a panicking store: got %d, want 500", r.status)
	}
	if r := s.do(t, "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("after a panic: got %d, want the server still serving", r.status)
	}
	logger.Close()
	if !strings.Contains(logged.String(), "disk on fire") {
		t.Errorf("the panic was not logged: %q", logged.String())
	}
}

// connStub is a net.Conn that reads one prepared request and discards the
// response, so that a whole request runs through fasthttp's ServeConn
// without a network (fasthttp's allocation_test.go does the same).
type connStub struct {
	net.Conn
	r bytes.Buffer
	w bytes.Buffer
}

var stubAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4221}

func (c *connStub) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *connStub) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *connStub) Close() error                     { return nil }
func (c *connStub) RemoteAddr() net.Addr             { return stubAddr }
func (c *connStub) LocalAddr() net.Addr              { return stubAddr }
func (c *connStub) SetDeadline(time.Time) error      { return nil }
func (c *connStub) SetReadDeadline(time.Time) error  { return nil }
func (c *connStub) SetWriteDeadline(time.Time) error { return nil }

// serve runs request (one or several, pipelined) through srv as one
// connection and leaves the responses in c.w.
func (c *connStub) serve(tb testing.TB, srv *fasthttp.Server, request string) {
	c.r.WriteString(request)
	c.w.Reset()
	if err := srv.ServeConn(c); err != nil {
		tb.Fatal(err)
	}
}
