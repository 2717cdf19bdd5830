package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContentTypes: a file's Content-Type comes from the compiled-in
// table by its extension, any case; text types say UTF-8; unknown or no
// extension is application/octet-stream; every file answer says
// nosniff, and types that can run script are sandboxed.
func TestContentTypes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	big := strings.Repeat("b", 70<<10) // past the cache: streamed
	tests := []struct {
		name, body, wantType string
		sandboxed            bool
	}{
		{"notes.txt", "x", "text/plain; charset=utf-8", false},
		{"README.MD", "x", "text/markdown; charset=utf-8", false},
		{"photo.JPG", "x", "image/jpeg", false},
		{"doc.pdf", big, "application/pdf", false},
		{"page.html", "<script>alert(1)</script>", "text/html; charset=utf-8", true},
		{"page.HTM", "x", "text/html; charset=utf-8", true},
		{"logo.svg", "<svg/>", "image/svg+xml", true},
		{"feed.xml", "<a/>", "text/xml; charset=utf-8", true},
		{"app.js", "x", "text/javascript; charset=utf-8", true},
		{"big.html", big, "text/html; charset=utf-8", true},
		{"data.json", "{}", "application/json", false},
		{"archive.tar.gz", "x", "application/gzip", false},
		{"noext", "x", "application/octet-stream", false},
		{"weird.unknownext", "x", "application/octet-stream", false},
		{"dot.", "x", "application/octet-stream", false},
		{"dir.txt/inside", "x", "application/octet-stream", false},
	}
	for _, tt := range tests {
		if r := s.do(t, "PUT", "/files/"+tt.name, tt.body); r.status != 201 {
			t.Fatalf("PUT %s: %d", tt.name, r.status)
		}
		for _, method := range []string{"GET", "HEAD"} {
			r := s.do(t, method, "/files/"+tt.name, "")
			csp := r.get("Content-Security-Policy")
			if r.status != 200 || r.get("Content-Type") != tt.wantType || r.get("X-Content-Type-Options") != "nosniff" || (csp == "sandbox") != tt.sandboxed {
				t.Errorf("%s %s: %d, Content-Type %q, nosniff %q, CSP %q; want 200, %q, nosniff, sandboxed %v",
					method, tt.name, r.status, r.get("Content-Type"), r.get("X-Content-Type-Options"), csp, tt.wantType, tt.sandboxed)
			}
		}
	}
	// A range of an active file is sandboxed too.
	if r := s.do(t, "GET", "/files/page.html", "", "Range: bytes=0-3"); r.status != 206 || r.get("Content-Security-Policy") != "sandbox" {
		t.Errorf("range of page.html: %d, CSP %q", r.status, r.get("Content-Security-Policy"))
	}
}

func basic(user, password string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestBasicAuth: the token is also the password of Basic authentication,
// with any user name; a 401 offers both schemes.
func TestBasicAuth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.token = "s3cret" })
	tests := []struct {
		auth string
		want int
	}{
		{"Authorization: Bearer s3cret", 201},
		{basic("anyone", "s3cret"), 201},
		{basic("", "s3cret"), 201},
		{"Authorization: basic " + base64.StdEncoding.EncodeToString([]byte("u:s3cret")), 201},
		{basic("s3cret", "wrong"), 401},
		{basic("u", "s3cret2"), 401},
		{basic("u", "s3cre"), 401},
		{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("s3cret")), 401}, // no colon
		{"Authorization: Basic !!!not-base64", 401},
		{"Authorization: Basic " + strings.Repeat("QUFB", 400), 401},
		{"Authorization: Digest s3cret", 401},
		{"", 401},
	}
	for i, tt := range tests {
		if r := s.do(t, "PUT", fmt.Sprintf("/files/f%d", i), "x", tt.auth); r.status != tt.want {
			t.Errorf("PUT with %q: got %d, want %d", tt.auth, r.status, tt.want)
		}
	}
	reply, _ := s.raw(t, "PUT /files/f HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", time.Second)
	if !strings.Contains(reply, "\r\nWww-Authenticate: Bearer\r\n") || !strings.Contains(reply, "\r\nWww-Authenticate: Basic realm=\"httpbox\"") {
		t.Errorf("401 without both challenges:\n%s", reply)
	}
}

// TestPrivate: --private makes every request under /files/ need the
// token, reads and OPTIONS included; the rest stays open.
func TestPrivate(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.token = "s3cret"; c.private = true })
	writeTree(t, s.root, "secret.txt", []byte("hidden"))
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		for _, path := range []string{"/files/secret.txt", "/files/missing", "/files/", "/files/%2e%2e/x"} {
			if r := s.do(t, method, path, ""); r.status != 401 || strings.Contains(string(r.body), "hidden") {
				t.Errorf("%s %s without the token: got %d %q, want 401", method, path, r.status, r.body)
			}
		}
	}
	if r := s.do(t, "GET", "/files/secret.txt", "", basic("me", "s3cret")); r.status != 200 || string(r.body) != "hidden" {
		t.Errorf("GET with the token: %d %q", r.status, r.body)
	}
	for _, path := range []string{"/healthz", "/echo/hi", "/user-agent", "/"} {
		if r := s.do(t, "GET", path, ""); r.status != 200 {
			t.Errorf("GET %s under --private: got %d, want 200 (open)", path, r.status)
		}
	}
	if _, err := parseFlags([]string{"--private", "-d", t.TempDir()}, noEnv, io.Discard); exitCode(err) != 2 {
		t.Errorf("--private without a token: %v, want a usage error", err)
	}
}

// TestOptions: OPTIONS answers 200 with the methods that can succeed on
// the path.
func TestOptions(t *testing.T) {
	t.Parallel()
	rw := newTestServer(t, nil)
	ro := newTestServer(t, func(c *config) { c.readOnly = true })
	tests := []struct {
		s          *testServer
		path, want string
	}{
		{rw, "/files/x", "GET, HEAD, POST, PUT, DELETE, OPTIONS"},
		{ro, "/files/x", "GET, HEAD, OPTIONS"},
		{rw, "/echo/x", "GET, HEAD, OPTIONS"},
		{rw, "/healthz", "GET, HEAD, OPTIONS"},
		{ro, "/", "GET, HEAD, OPTIONS"},
	}
	for _, tt := range tests {
		r := tt.s.do(t, "OPTIONS", tt.path, "")
		if r.status != 200 || r.get("Allow") != tt.want {
			t.Errorf("OPTIONS %s (read-only %v): %d, Allow %q; want 200, %q", tt.path, tt.s == ro, r.status, r.get("Allow"), tt.want)
		}
	}
	if r := rw.do(t, "OPTIONS", "/nowhere", ""); r.status != 404 {
		t.Errorf("OPTIONS /nowhere: %d, want 404", r.status)
	}
}

// TestNoListings: with --no-listings every directory is 404, the root
// included, and files are served as ever.
func TestNoListings(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.noListings = true })
	writeTree(t, s.root, "d/f.txt", []byte("file"))
	for _, path := range []string{"/files/", "/files/d", "/files/d/"} {
		for _, method := range []string{"GET", "HEAD"} {
			if r := s.do(t, method, path, ""); r.status != 404 {
				t.Errorf("%s %s with --no-listings: got %d, want 404", method, path, r.status)
			}
		}
	}
	if r := s.do(t, "GET", "/files/d/f.txt", ""); r.status != 200 || string(r.body) != "file" {
		t.Errorf("GET a file with --no-listings: %d %q", r.status, r.body)
	}
}

// TestIndexPage: GET / is empty for scripts, and a small page for a
// browser, with a link to the listing unless listings are off.
func TestIndexPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	if r := s.do(t, "GET", "/", ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("GET / without Accept: %d %q, want 200 and no body", r.status, r.body)
	}
	browser := "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	r := s.do(t, "GET", "/", "", browser)
	if r.status != 200 || r.get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(r.body), `href="/files/"`) || !strings.Contains(string(r.body), "httpbox ") || !strings.Contains(string(r.body), projectPage) {
		t.Errorf("GET / from a browser: %d %q %q", r.status, r.get("Content-Type"), r.body)
	}
	if h := s.do(t, "HEAD", "/", "", browser); h.get("Content-Length") != fmt.Sprint(len(r.body)) {
		t.Errorf("HEAD / from a browser: Content-Length %q, want %d", h.get("Content-Length"), len(r.body))
	}
	off := newTestServer(t, func(c *config) { c.noListings = true })
	if r := off.do(t, "GET", "/", "", browser); strings.Contains(string(r.body), "/files/\"") {
		t.Errorf("GET / with --no-listings links the listing: %q", r.body)
	}
}

// TestNonUTF8NamesCanBeFetched: a file whose name on disk is not UTF-8
// (Latin-1, say) is listed, so its link must work too.
func TestNonUTF8NamesCanBeFetched(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	writeTree(t, s.root, "caf\xe9.txt", []byte("latin-1"))
	if r := s.do(t, "GET", "/files/", ""); !strings.Contains(string(r.body), `caf\xe9.txt`) {
		t.Fatalf("listing: %q", r.body)
	}
	if r := s.do(t, "GET", "/files/caf%E9.txt", ""); r.status != 200 || string(r.body) != "latin-1" {
		t.Errorf("GET /files/caf%%E9.txt: %d %q, want 200 \"latin-1\"", r.status, r.body)
	}
}

// TestNoWebDAV: with --no-webdav every /dav/ request is 404, whatever
// its method, and /files/ is served as ever.
func TestNoWebDAV(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *config) { c.noWebDAV = true })
	writeTree(t, s.root, "f", []byte("x"))
	for _, method := range []string{"GET", "PROPFIND", "OPTIONS", "PUT", "MKCOL", "LOCK"} {
		if r := s.do(t, method, "/dav/f", ""); r.status != 404 {
			t.Errorf("%s /dav/f with --no-webdav: got %d, want 404", method, r.status)
		}
	}
	if r := s.do(t, "GET", "/files/f", ""); r.status != 200 {
		t.Errorf("GET /files/f with --no-webdav: %d", r.status)
	}
	on := newTestServer(t, nil)
	if r := on.do(t, "PROPFIND", "/dav/", "", "Depth: 0"); r.status != 207 {
		t.Errorf("PROPFIND /dav/ with WebDAV on: got %d, want 207", r.status)
	}
}

// TestFragmentIsRefused: a request target never carries a fragment; one
// that does gets 400 and acts on nothing (litmus's delete_fragment sends
// DELETE /dav/litmus/frag/#ment, which once deleted the collection).
func TestFragmentIsRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	writeTree(t, s.root, "frag/f", []byte("x"))
	for _, req := range []string{
		"DELETE /dav/frag/#ment HTTP/1.1\r\nHost: x\r\n\r\n",
		"DELETE /files/frag/f#x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /files/frag/f#x HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if reply, _ := s.raw(t, req, time.Second); !strings.HasPrefix(reply, "HTTP/1.1 400 ") {
			t.Errorf("%q: got %q, want 400", req, firstLine([]byte(reply)))
		}
	}
	if r := s.do(t, "GET", "/files/frag/f", ""); r.status != 200 {
		t.Errorf("after the refused requests: GET /files/frag/f %d, want 200", r.status)
	}
}

// TestDAVNeverGoesThroughASymlinkOut: a symlink that leads out of the
// root is never listed, copied, or read through by WebDAV.
func TestDAVNeverGoesThroughASymlinkOut(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	outside := t.TempDir()
	writeTree(t, outside, "secret.txt", []byte("outside"))
	mustDo(t, os.Symlink(outside, filepath.Join(s.root, "out")))
	mustDo(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(s.root, "link.txt")))
	dest := "Destination: http://httpbox/dav/copied"
	for _, tt := range []struct{ method, path, header string }{
		{"COPY", "/dav/out/secret.txt", dest},
		{"COPY", "/dav/link.txt", dest},
		{"COPY", "/dav/out", dest},
		{"GET", "/dav/out/secret.txt", ""},
		{"PROPFIND", "/dav/out/", "Depth: 1"},
	} {
		r := s.do(t, tt.method, tt.path, "", tt.header)
		if r.status < 400 || r.status >= 500 || strings.Contains(string(r.body), "outside") || strings.Contains(string(r.body), "secret.txt") {
			t.Errorf("%s %s: %d %q, want a 4xx that shows nothing", tt.method, tt.path, r.status, r.body)
		}
	}
	if _, err := os.Lstat(filepath.Join(s.root, "copied")); err == nil {
		t.Errorf("a COPY through a symlink out of the root made /dav/copied")
	}
	r := s.do(t, "PROPFIND", "/dav/", "", "Depth: 1")
	if r.status != 207 || strings.Contains(string(r.body), "/dav/out") || strings.Contains(string(r.body), "link.txt") {
		t.Errorf("PROPFIND /dav/ lists the symlinks out: %d %s", r.status, r.body)
	}
}

// TestDAVExpectRefusedBeforeTheBody: a WebDAV PUT that will be refused
// for a lock or a missing parent learns it before sending its body.
func TestDAVExpectRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	writeTree(t, s.root, "locked.txt", []byte("x"))
	lock := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	if r := s.do(t, "LOCK", "/dav/locked.txt", lock, "Timeout: Second-60"); r.status != 200 {
		t.Fatalf("LOCK: %d %s", r.status, r.body)
	}
	for path, want := range map[string]string{"/dav/locked.txt": "423", "/dav/no/parent.txt": "409"} {
		reply, _ := s.raw(t, "PUT "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", time.Second)
		if !strings.HasPrefix(reply, "HTTP/1.1 "+want+" ") {
			t.Errorf("PUT %s with Expect: got %q, want %s before the body", path, firstLine([]byte(reply)), want)
		}
	}
}

// TestDAVDestinationDefaultPort: a Destination that spells out the
// default port names this server as one without it does.
func TestDAVDestinationDefaultPort(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	writeTree(t, s.root, "src.txt", []byte("x"))
	if r := s.do(t, "COPY", "/dav/src.txt", "", "Destination: http://httpbox:80/dav/copy.txt"); r.status != 201 {
		t.Errorf("COPY to http://httpbox:80/dav/copy.txt with Host httpbox: %d, want 201", r.status)
	}
	if r := s.do(t, "COPY", "/dav/src.txt", "", "Destination: http://httpbox:81/dav/other.txt"); r.status != 502 {
		t.Errorf("COPY to another port: %d, want 502", r.status)
	}
}
