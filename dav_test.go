package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/httpbox/httpbox/internal/s3test"
	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// davTestServer is the real handler, /dav/ included, on an in-memory
// listener.
type davTestServer struct {
	*testServer
	dav *davHandler
}

// newDAVTestServer serves backend (the directory cfg.root when nil) with
// the server's own handler, /dav/ included, on an in-memory listener.
func newDAVTestServer(t *testing.T, backend store.Backend, edit func(*config)) *davTestServer {
	t.Helper()
	cfg := testConfig(t.TempDir())
	if edit != nil {
		edit(&cfg)
	}
	if backend == nil {
		backend = testBackend(t, cfg.root)
	}
	logger := newAccessLog(io.Discard, cfg.quiet)
	t.Cleanup(func() { logger.Close() })
	h := newHandler(cfg, backend, logger)
	srv := &fasthttp.Server{
		Handler:               h.serve,
		ErrorHandler:          h.requestError,
		ExpectHandler:         h.expect,
		StreamRequestBody:     true,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        maxHeaderBytes,
		Logger:                logger,
	}
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck // Serve ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	client := &fasthttp.Client{
		Dial:                   func(string) (net.Conn, error) { return ln.Dial() },
		DisablePathNormalizing: true,
	}
	return &davTestServer{testServer: &testServer{client: client, ln: ln, root: cfg.root}, dav: h.dav}
}

// s3Backend is an S3 backend on a fresh bucket of a versitygw started for
// the test (skipped without versitygw, failed under CI).
func s3Backend(t *testing.T) store.Backend {
	t.Helper()
	srv := s3test.Start(t)
	cfg := srv.Config()
	b, err := store.NewS3(context.Background(), "s3://"+srv.NewBucket(t)+"/pre", store.S3Options{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// multistatus is a 207 answer, parsed.
type multistatus struct {
	Responses []struct {
		Href     string `xml:"DAV: href"`
		Propstat []struct {
			Prop struct {
				Props []struct {
					XMLName xml.Name
					Inner   string `xml:",innerxml"`
				} `xml:",any"`
			} `xml:"DAV: prop"`
			Status string `xml:"DAV: status"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

// parseMultistatus parses a 207 body, failing the test when it is not
// well-formed XML.
func parseMultistatus(t *testing.T, body []byte) multistatus {
	t.Helper()
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		t.Fatalf("multistatus is not well-formed: %v\n%s", err, body)
	}
	return ms
}

// prop returns the value (inner XML) of the property space:local that
// the answer for href reports with 200, and whether it does.
func (ms multistatus) prop(href, space, local string) (string, bool) {
	for _, r := range ms.Responses {
		if r.Href != href {
			continue
		}
		for _, ps := range r.Propstat {
			if !strings.Contains(ps.Status, " 200 ") {
				continue
			}
			for _, p := range ps.Prop.Props {
				if p.XMLName.Space == space && p.XMLName.Local == local {
					return p.Inner, true
				}
			}
		}
	}
	return "", false
}

func (ms multistatus) hrefs() []string {
	var out []string
	for _, r := range ms.Responses {
		out = append(out, r.Href)
	}
	return out
}

func wantStatus(t *testing.T, r response, what string, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %d %q, want %d", what, r.status, r.body, status)
	}
}

const propfindAll = `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`

// davBackends runs fn on a directory and, when versitygw is there, on S3.
func davBackends(t *testing.T, fn func(t *testing.T, s *davTestServer)) {
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		fn(t, newDAVTestServer(t, nil, nil))
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		fn(t, newDAVTestServer(t, s3Backend(t), nil))
	})
}

// TestDAVMethods: each method's rule of the contract, on both backends.
func TestDAVMethods(t *testing.T) {
	davBackends(t, func(t *testing.T, s *davTestServer) {
		r := s.do(t, "OPTIONS", "/dav/", "")
		wantStatus(t, r, "OPTIONS", 200)
		if r.get("DAV") != "1, 2" || r.get("MS-Author-Via") != "DAV" || !strings.Contains(r.get("Allow"), "PROPFIND") {
			t.Errorf("OPTIONS headers: %v", r.header)
		}
		wantStatus(t, s.do(t, "PROPFIND", "/dav", "", "Depth: 0"), "/dav without slash", 404)

		// PUT: 201, 204; no parents created.
		wantStatus(t, s.do(t, "PUT", "/dav/a.txt", "hello"), "PUT new", 201)
		wantStatus(t, s.do(t, "PUT", "/dav/a.txt", "hello, world"), "PUT again", 204)
		wantStatus(t, s.do(t, "PUT", "/dav/no/b.txt", "x"), "PUT without parent", 409)
		wantStatus(t, s.do(t, "GET", "/dav/no/", ""), "parent left by a refused PUT", 404)

		// GET as on /files/: validators and ranges.
		g := s.do(t, "GET", "/dav/a.txt", "")
		wantStatus(t, g, "GET", 200)
		if string(g.body) != "hello, world" || g.get("ETag") == "" || g.get("Accept-Ranges") != "bytes" {
			t.Errorf("GET: %q %v", g.body, g.header)
		}
		if r := s.do(t, "GET", "/dav/a.txt", "", "Range: bytes=7-"); r.status != 206 || string(r.body) != "world" {
			t.Errorf("range: %d %q", r.status, r.body)
		}
		wantStatus(t, s.do(t, "GET", "/dav/a.txt", "", "If-None-Match: "+g.get("ETag")), "If-None-Match", 304)

		// MKCOL.
		wantStatus(t, s.do(t, "MKCOL", "/dav/c/", ""), "MKCOL", 201)
		wantStatus(t, s.do(t, "MKCOL", "/dav/c/", ""), "MKCOL again", 405)
		wantStatus(t, s.do(t, "MKCOL", "/dav/a.txt", ""), "MKCOL on a file", 405)
		wantStatus(t, s.do(t, "MKCOL", "/dav/x/y/", ""), "MKCOL without parent", 409)
		wantStatus(t, s.do(t, "MKCOL", "/dav/d/", "<x/>"), "MKCOL with a body", 415)
		wantStatus(t, s.do(t, "PUT", "/dav/c/in.txt", "in"), "PUT into a collection", 201)

		// A collection's GET is its listing.
		if r := s.do(t, "GET", "/dav/c/", "", "Accept: text/plain"); r.status != 200 || string(r.body) != "in.txt\n" {
			t.Errorf("listing: %d %q", r.status, r.body)
		}

		// PROPFIND: live properties agree with GET.
		r = s.do(t, "PROPFIND", "/dav/a.txt", propfindAll, "Depth: 0")
		wantStatus(t, r, "PROPFIND", 207)
		ms := parseMultistatus(t, r.body)
		for _, p := range []struct{ name, want string }{
			{"getetag", g.get("ETag")},
			{"getcontentlength", "12"},
			{"getcontenttype", "text/plain; charset=utf-8"},
			{"displayname", "a.txt"},
			{"resourcetype", ""},
		} {
			if v, ok := ms.prop("/dav/a.txt", "DAV:", p.name); !ok || v != p.want {
				t.Errorf("%s: %q (%v), want %q", p.name, v, ok, p.want)
			}
		}
		// GET's Last-Modified may be up to a second earlier than the
		// file's time: it is never later than the answer's Date, which
		// fasthttp caches (notAfterDate). PROPFIND gives the file's.
		v, _ := ms.prop("/dav/a.txt", "DAV:", "getlastmodified")
		propTime, err1 := http.ParseTime(v)
		getTime, err2 := http.ParseTime(g.get("Last-Modified"))
		if err1 != nil || err2 != nil || propTime.Before(getTime) || propTime.Sub(getTime) > time.Second {
			t.Errorf("getlastmodified %q, want GET's Last-Modified %q or up to a second later", v, g.get("Last-Modified"))
		}
		if v, ok := ms.prop("/dav/a.txt", "DAV:", "supportedlock"); !ok || !strings.Contains(v, "exclusive") {
			t.Errorf("supportedlock: %q", v)
		}
		if _, ok := ms.prop("/dav/a.txt", "DAV:", "lockdiscovery"); !ok {
			t.Error("no lockdiscovery")
		}
		r = s.do(t, "PROPFIND", "/dav/", propfindAll, "Depth: 1")
		wantStatus(t, r, "PROPFIND depth 1", 207)
		if got := strings.Join(parseMultistatus(t, r.body).hrefs(), " "); got != "/dav/ /dav/a.txt /dav/c/" {
			t.Errorf("depth 1 hrefs: %s", got)
		}
		for _, depth := range []string{"Depth: infinity", ""} {
			r = s.do(t, "PROPFIND", "/dav/", propfindAll, depth)
			if r.status != 403 || !bytes.Contains(r.body, []byte("propfind-finite-depth")) {
				t.Errorf("PROPFIND %q: %d %q", depth, r.status, r.body)
			}
		}
		wantStatus(t, s.do(t, "PROPFIND", "/dav/none", "", "Depth: 0"), "PROPFIND of nothing", 404)

		// PROPPATCH: dead properties go with COPY and MOVE, and away
		// with DELETE.
		const patch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>blue &amp; green</Z:color></D:prop></D:set></D:propertyupdate>`
		wantStatus(t, s.do(t, "PROPPATCH", "/dav/a.txt", patch), "PROPPATCH", 207)
		hasColor := func(href string) bool {
			r := s.do(t, "PROPFIND", href, `<D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:z"/></D:prop></D:propfind>`, "Depth: 0")
			if r.status != 207 {
				return false
			}
			v, ok := parseMultistatus(t, r.body).prop(href, "urn:z", "color")
			return ok && v == "blue &amp; green"
		}
		if !hasColor("/dav/a.txt") {
			t.Fatal("PROPPATCH did not store the property")
		}
		wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: /dav/b.txt"), "COPY", 201)
		if !hasColor("/dav/b.txt") {
			t.Error("COPY did not copy the property")
		}
		wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: http://httpbox/dav/b.txt"), "COPY onto", 204)
		wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: /dav/b.txt", "Overwrite: F"), "COPY Overwrite: F", 412)
		wantStatus(t, s.do(t, "MOVE", "/dav/b.txt", "", "Destination: /dav/c/m.txt"), "MOVE", 201)
		if !hasColor("/dav/c/m.txt") {
			t.Error("MOVE did not move the property")
		}
		wantStatus(t, s.do(t, "GET", "/dav/b.txt", ""), "MOVE's source", 404)

		// COPY's Destination: another host, bad paths; nothing touched.
		wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: http://elsewhere.example/dav/z.txt"), "another host", 502)
		for _, dst := range []string{"/dav/%2e%2e/z.txt", "/dav/../z.txt", "/files/z.txt", "/dav/a%00b", "/dav/x/%2F/y"} {
			wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: "+dst), "Destination "+dst, 400)
		}
		wantStatus(t, s.do(t, "COPY", "/dav/none", "", "Destination: /dav/z.txt"), "COPY of nothing", 404)
		wantStatus(t, s.do(t, "COPY", "/dav/a.txt", "", "Destination: /dav/no/z.txt"), "COPY without parent", 409)

		// COPY of a collection: Depth 0 copies it empty.
		wantStatus(t, s.do(t, "COPY", "/dav/c/", "", "Destination: /dav/c0/", "Depth: 0"), "COPY depth 0", 201)
		if r := s.do(t, "GET", "/dav/c0/", "", "Accept: text/plain"); r.status != 200 || len(r.body) != 0 {
			t.Errorf("depth 0 copy: %d %q", r.status, r.body)
		}
		wantStatus(t, s.do(t, "COPY", "/dav/c/", "", "Destination: /dav/ci/"), "COPY infinity", 201)
		if r := s.do(t, "GET", "/dav/ci/m.txt", ""); r.status != 200 || string(r.body) != "hello, world" {
			t.Errorf("deep copy: %d %q", r.status, r.body)
		}

		// DELETE of a collection takes everything in it.
		wantStatus(t, s.do(t, "DELETE", "/dav/ci/", ""), "DELETE collection", 204)
		wantStatus(t, s.do(t, "GET", "/dav/ci/m.txt", ""), "deleted member", 404)
		wantStatus(t, s.do(t, "DELETE", "/dav/ci/", ""), "DELETE again", 404)
		if hasColor("/dav/ci/m.txt") {
			t.Error("properties outlived their resource")
		}
		wantStatus(t, s.do(t, "DELETE", "/dav/", ""), "DELETE of the root", 403)
		wantStatus(t, s.do(t, "POST", "/dav/a.txt", "x"), "POST", 405)
	})
}

// TestDAVRefusals: the writing methods refuse in the contract's order.
func TestDAVRefusals(t *testing.T) {
	t.Parallel()
	s := newDAVTestServer(t, nil, func(c *config) { c.token = "secret" })
	makeFS(t, s.root, "f.txt=x")
	auth := "Authorization: Bearer secret"
	for _, m := range []string{"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"} {
		r := s.do(t, m, "/dav/%2e%2e/x", "", "Destination: /dav/y")
		if r.status != 401 || r.get("WWW-Authenticate") == "" {
			t.Errorf("%s without token: %d %v", m, r.status, r.header)
		}
		wantStatus(t, s.do(t, m, "/dav/%2e%2e/x", "", auth, "Destination: /dav/y"), m+" bad path", 400)
	}
	wantStatus(t, s.do(t, "PROPFIND", "/dav/", "", "Depth: 0"), "PROPFIND without token (not private)", 207)

	// A declared body over the limit is refused before it is sent, and
	// a missing token before a bad path is looked at.
	for _, tt := range []struct{ req, want string }{
		{"PUT /dav/big HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 2000000\r\n", "HTTP/1.1 413"},
		{"LOCK /dav/big HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 1048577\r\n", "HTTP/1.1 413"},
		{"PUT /dav/%2e%2e HTTP/1.1\r\nContent-Length: 2000000\r\n", "HTTP/1.1 401"},
		{"PUT /dav/ok HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 2\r\n", "HTTP/1.1 100"},
	} {
		r, _ := s.raw(t, tt.req+"Host: x\r\nExpect: 100-continue\r\n\r\n", 500*time.Millisecond)
		if !strings.HasPrefix(r, tt.want) {
			t.Errorf("%q: got %q, want %s", tt.req, firstLine([]byte(r)), tt.want)
		}
	}
	// XML bodies: 1 MiB at most, even chunked.
	big := "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><x>" + strings.Repeat("a", 1<<20) + "</x></D:prop></D:set></D:propertyupdate>"
	req := "PROPPATCH /dav/f.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.ToLower(strings.TrimLeft(fasthttpHex(len(big)), "0")) + "\r\n" + big + "\r\n0\r\n\r\n"
	if r, _ := s.raw(t, req, 2*time.Second); !strings.HasPrefix(r, "HTTP/1.1 413") {
		t.Errorf("chunked PROPPATCH over 1 MiB: %q", firstLine([]byte(r)))
	}

	ro := newDAVTestServer(t, nil, func(c *config) { c.readOnly = true })
	makeFS(t, ro.root, "f.txt=x")
	for _, m := range []string{"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK"} {
		wantStatus(t, ro.do(t, m, "/dav/%2e%2e", "", "Destination: /dav/y"), m+" read-only", 403)
	}
	if a := ro.do(t, "OPTIONS", "/dav/", "").get("Allow"); strings.Contains(a, "PUT") || !strings.Contains(a, "PROPFIND") {
		t.Errorf("read-only Allow: %q", a)
	}
	if !fileExists(filepath.Join(ro.root, "f.txt")) {
		t.Error("a refused write touched the file")
	}
}

func fasthttpHex(n int) string {
	const digits = "0123456789abcdef"
	var b []byte
	for ; n > 0; n /= 16 {
		b = append([]byte{digits[n%16]}, b...)
	}
	return string(b)
}

// TestDAVHostileNames: names with markup, quotes, escapes, a newline and
// bytes that are not UTF-8 give a well-formed PROPFIND answer whose
// hrefs are percent-encoded and name the files.
func TestDAVHostileNames(t *testing.T) {
	t.Parallel()
	s := newDAVTestServer(t, nil, nil)
	names := []string{"<script>alert(1)<!--", `q"uo'te`, "a&b", "100%", "new\nline", "bad\xff\xfe", "sp ace", "ü"}
	for _, n := range names {
		mustDo(t, os.WriteFile(filepath.Join(s.root, n), []byte("x"), 0o644))
	}
	r := s.do(t, "PROPFIND", "/dav/", propfindAll, "Depth: 1")
	wantStatus(t, r, "PROPFIND", 207)
	ms := parseMultistatus(t, r.body)
	got := map[string]bool{}
	for _, href := range ms.hrefs() {
		for _, c := range []byte(href) {
			if c < 0x21 || c >= 0x7f || strings.IndexByte(`<>"'`, c) >= 0 {
				t.Errorf("href %q carries %q", href, c)
			}
		}
		name, err := url.PathUnescape(strings.TrimPrefix(href, "/dav/"))
		if err != nil {
			t.Errorf("href %q: %v", href, err)
		}
		got[name] = true
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("%q not listed; hrefs %q", n, ms.hrefs())
		}
	}
	if bytes.Contains(r.body, []byte("<script>")) || !bytes.Contains(r.body, []byte("/dav/a&amp;b")) {
		t.Errorf("names reached the XML unescaped:\n%s", r.body)
	}
}

// TestDAVLocks: exclusive and shared locks, tokens in If, refresh,
// timeouts and UNLOCK, with raw requests as a client sends them.
func TestDAVLocks(t *testing.T) {
	t.Parallel()
	s := newDAVTestServer(t, nil, nil)
	makeFS(t, s.root, "f.txt=x", "d/", "d/in.txt=y")
	const exclusive = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:me@example.com</D:href></D:owner></D:lockinfo>`
	const shared = `<?xml version="1.0"?><lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype><owner>someone</owner></lockinfo>`

	// A LOCK/UNLOCK round as the bytes go on the wire.
	reply, _ := s.raw(t, "LOCK /dav/f.txt HTTP/1.1\r\nHost: x\r\nTimeout: Second-600\r\nContent-Type: application/xml\r\nContent-Length: "+
		itoaLen([]byte(exclusive))+"\r\n\r\n"+exclusive, time.Second)
	if !strings.HasPrefix(reply, "HTTP/1.1 200 OK\r\n") || !strings.Contains(reply, "<D:exclusive/>") ||
		!strings.Contains(reply, "mailto:me@example.com") || !strings.Contains(reply, "Second-600") {
		t.Fatalf("LOCK: %q", reply)
	}
	_, rest, _ := strings.Cut(reply, "\r\nLock-Token: <")
	token, _, _ := strings.Cut(rest, ">")
	if !strings.HasPrefix(token, "urn:uuid:") {
		t.Fatalf("Lock-Token %q", token)
	}
	var prop struct {
		Owner string `xml:"lockdiscovery>activelock>owner>href"`
		Root  string `xml:"lockdiscovery>activelock>lockroot>href"`
	}
	_, body, _ := strings.Cut(reply, "\r\n\r\n")
	if err := xml.Unmarshal([]byte(body), &prop); err != nil || prop.Owner != "mailto:me@example.com" || prop.Root != "/dav/f.txt" {
		t.Errorf("LOCK body %q: %+v %v", body, prop, err)
	}

	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new"), "PUT without the token", 423)
	wantStatus(t, s.do(t, "DELETE", "/dav/f.txt", ""), "DELETE without the token", 423)
	wantStatus(t, s.do(t, "MOVE", "/dav/f.txt", "", "Destination: /dav/g.txt"), "MOVE without the token", 423)
	wantStatus(t, s.do(t, "PROPPATCH", "/dav/f.txt", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>`), "PROPPATCH without the token", 423)
	wantStatus(t, s.do(t, "LOCK", "/dav/f.txt", shared), "shared LOCK on an exclusive one", 423)
	wantStatus(t, s.do(t, "COPY", "/dav/f.txt", "", "Destination: /dav/copy.txt"), "COPY of a locked source", 201)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new", "If: (<urn:uuid:00000000-0000-4000-8000-000000000000>)"), "a wrong token", 412)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new", "If: (<urn:uuid:wrong>) (Not <DAV:no-lock>)"), "a wrong token, list true", 423)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new", "If: (<"+token+">)"), "PUT with the token", 204)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new", "If: <http://httpbox/dav/f.txt> (<"+token+">)"), "PUT with a tagged list", 204)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "new", "If: (<"+token+"> [\"nope\"])"), "the token and a wrong etag", 412)

	// PROPFIND shows the lock.
	r := s.do(t, "PROPFIND", "/dav/f.txt", `<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>`, "Depth: 0")
	if v, _ := parseMultistatus(t, r.body).prop("/dav/f.txt", "DAV:", "lockdiscovery"); !strings.Contains(v, token) {
		t.Errorf("lockdiscovery: %q", v)
	}

	// Refresh: an empty LOCK with the token in If.
	r = s.do(t, "LOCK", "/dav/f.txt", "", "If: (<"+token+">)", "Timeout: Second-100")
	if r.status != 200 || !strings.Contains(string(r.body), "Second-100") {
		t.Errorf("refresh: %d %q", r.status, r.body)
	}
	wantStatus(t, s.do(t, "LOCK", "/dav/f.txt", "", "If: (<urn:uuid:none>)"), "refresh of no lock", 412)

	// UNLOCK: the token must apply to the name.
	wantStatus(t, s.do(t, "UNLOCK", "/dav/d/", "", "Lock-Token: <"+token+">"), "UNLOCK elsewhere", 409)
	reply, _ = s.raw(t, "UNLOCK /dav/f.txt HTTP/1.1\r\nHost: x\r\nLock-Token: <"+token+">\r\n\r\n", time.Second)
	if !strings.HasPrefix(reply, "HTTP/1.1 204 No Content\r\n") {
		t.Fatalf("UNLOCK: %q", reply)
	}
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "free"), "PUT after UNLOCK", 204)

	// Shared locks: several, each token enough; no exclusive among them.
	var tokens []string
	for i := 0; i < 2; i++ {
		r := s.do(t, "LOCK", "/dav/d/", shared, "Depth: infinity")
		wantStatus(t, r, "shared LOCK", 200)
		if !strings.Contains(string(r.body), "<D:shared/>") {
			t.Errorf("shared LOCK answer: %q", r.body)
		}
		tokens = append(tokens, strings.Trim(r.get("Lock-Token"), "<>"))
	}
	wantStatus(t, s.do(t, "LOCK", "/dav/d/in.txt", exclusive), "exclusive LOCK under shared ones", 423)
	wantStatus(t, s.do(t, "PUT", "/dav/d/in.txt", "z"), "PUT under shared locks", 423)
	wantStatus(t, s.do(t, "PUT", "/dav/d/new.txt", "z"), "PUT of a new member", 423)
	wantStatus(t, s.do(t, "PUT", "/dav/d/in.txt", "z", "If: (<"+tokens[1]+">)"), "PUT with one shared token", 204)
	wantStatus(t, s.do(t, "DELETE", "/dav/d/", "", "If: (<"+tokens[0]+">)"), "DELETE with one shared token", 204)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "x"), "the locks went with the collection", 204)

	// /files/ writes obey the same locks.
	r = s.do(t, "LOCK", "/dav/f.txt", exclusive)
	wantStatus(t, r, "LOCK for /files/", 200)
	token = strings.Trim(r.get("Lock-Token"), "<>")
	wantStatus(t, s.do(t, "PUT", "/files/f.txt", "x"), "/files/ PUT without the token", 423)
	wantStatus(t, s.do(t, "DELETE", "/files/f.txt", ""), "/files/ DELETE without the token", 423)
	wantStatus(t, s.do(t, "PUT", "/files/f.txt", "y", "If: (<"+token+">)"), "/files/ PUT with the token", 204)
	wantStatus(t, s.do(t, "UNLOCK", "/dav/f.txt", "", "Lock-Token: <"+token+">"), "UNLOCK for /files/", 204)
	if n := s.dav.locks.live.Load(); n != 0 {
		t.Errorf("%d locks left after DELETE", n)
	}

	// A lock times out.
	r = s.do(t, "LOCK", "/dav/f.txt", exclusive, "Timeout: Second-1")
	wantStatus(t, r, "short LOCK", 200)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "x"), "PUT under a short lock", 423)
	time.Sleep(1100 * time.Millisecond)
	wantStatus(t, s.do(t, "PUT", "/dav/f.txt", "x"), "PUT after the timeout", 204)

	// LOCK of an unmapped name creates it empty; its parent must exist.
	r = s.do(t, "LOCK", "/dav/new.txt", exclusive)
	wantStatus(t, r, "LOCK unmapped", 201)
	wantStatus(t, s.do(t, "LOCK", "/dav/no/new.txt", exclusive), "LOCK without parent", 409)
	if r := s.do(t, "GET", "/dav/new.txt", ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("locked unmapped name: %d %q", r.status, r.body)
	}
}

// TestLockedForIsCheap: with no lock held, lockedFor is one atomic load
// and allocates nothing.
func TestLockedForIsCheap(t *testing.T) {
	s := newDAVTestServer(t, nil, nil)
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.Set("If", "(<urn:uuid:x>)")
	if n := testing.AllocsPerRun(100, func() {
		if s.dav.lockedFor(ctx, "a/b.txt") {
			t.Fatal("locked without locks")
		}
	}); n != 0 {
		t.Errorf("lockedFor allocates %v times", n)
	}
}

func TestParseIf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		ok     bool
		tokens string
	}{
		{`(<urn:a>)`, true, "urn:a"},
		{`(<urn:a> ["e]t"]) (Not <DAV:no-lock>)`, true, "urn:a"},
		{`<http://h/dav/x> (<urn:a>) (<urn:b>) </dav/y> ([W/"t"])`, true, "urn:a urn:b"},
		{`(Not <urn:a>)`, true, ""},
		{`()`, false, ""},
		{`(<urn:a>`, false, ""},
		{`<http://h/x>`, false, ""},
		{`(<urn:a>) <http://h/x> (<urn:b>)`, false, ""},
		{`(["unterminated)`, false, ""},
		{`junk`, false, ""},
	}
	for _, tt := range tests {
		lists, ok := parseIf(tt.in)
		if ok != tt.ok || ok && strings.Join(submittedTokens(lists), " ") != tt.tokens {
			t.Errorf("parseIf(%q) = %+v, %v; want ok %v, tokens %q", tt.in, lists, ok, tt.ok, tt.tokens)
		}
	}
}

func TestAsksLiveOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want bool
	}{
		{"", false}, // allprop
		{`<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, false},
		{`<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, false},
		{`<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/><D:lockdiscovery/></D:prop></D:propfind>`, true},
		{`<propfind xmlns="DAV:"><prop><getcontentlength/><x:color xmlns:x="urn:x"/></prop></propfind>`, false},
		{`<propfind xmlns="DAV:"><prop><getcontentlength/><foo/></prop></propfind>`, false},
		{`<propfind xmlns="DAV:"><prop>`, false},
	}
	for _, tt := range tests {
		if got := asksLiveOnly([]byte(tt.body)); got != tt.want {
			t.Errorf("asksLiveOnly(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}
