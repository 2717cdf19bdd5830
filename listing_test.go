package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/httpbox/httpbox/internal/s3test"
	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// Directory listings: formats, order, hostile names and errors over the
// in-memory listener, on the directory backend and on S3; the memory of a
// 100,000-entry listing on the real binary. browser_test.go renders the
// HTML page in Chromium.

const (
	acceptHTML = "Accept: text/html"
	acceptJSON = "Accept: application/json"
)

// listingFixedTime is the modification time the directory tests give
// every entry, so that JSON and HTML can be compared exactly.
var listingFixedTime = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

// listingServer is one backend's in-memory server, and how to put names
// into it.
type listingServer struct {
	*testServer
	onDisk bool // s.root is the tree: names S3 cannot hold, symlinks, fixed times
}

// forEachListingBackend runs test on the directory backend and on S3 (a
// fresh bucket, under a prefix), each in a subtest of its own.
func forEachListingBackend(t *testing.T, test func(t *testing.T, s listingServer)) {
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		test(t, listingServer{testServer: newTestServer(t, nil), onDisk: true})
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		test(t, listingServer{testServer: newListingS3Server(t, io.Discard)})
	})
}

// newListingS3Server serves a fresh bucket of a versitygw (under the prefix
// "pre") on an in-memory listener, the access log going to logOut.
func newListingS3Server(t *testing.T, logOut io.Writer) *testServer {
	t.Helper()
	srv := s3test.Start(t)
	awsCfg := srv.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	backend, err := store.NewS3(ctx, "s3://"+srv.NewBucket(t)+"/pre", store.S3Options{Config: &awsCfg})
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() { backend.Close() })
	return listingServeOn(t, testConfig(""), backend, logOut)
}

// listingServeOn serves backend with cfg on an in-memory listener, as
// newTestServer does for a directory; the access log goes to logOut.
func listingServeOn(t *testing.T, cfg config, backend store.Backend, logOut io.Writer) *testServer {
	t.Helper()
	cfg.quiet = logOut == io.Discard
	logger := newAccessLog(logOut, cfg.quiet)
	t.Cleanup(func() { logger.Close() })
	srv := newServer(cfg, backend, logger)
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck // Serve ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	client := &fasthttp.Client{
		Dial:                   func(string) (net.Conn, error) { return ln.Dial() },
		DisablePathNormalizing: true,
	}
	return &testServer{client: client, ln: ln, root: cfg.root}
}

// put stores body as name (unescaped, slash-separated) through the server.
func (s listingServer) put(t *testing.T, name, body string) {
	t.Helper()
	if r := s.do(t, "PUT", "/files/"+listingEscapePath(name), body); r.status != 201 && r.status != 204 {
		t.Fatalf("PUT %q: got %d %q", name, r.status, r.body)
	}
}

// fixTimes gives every entry on disk listingFixedTime.
func (s listingServer) fixTimes(t *testing.T) {
	t.Helper()
	if !s.onDisk {
		return
	}
	err := filepath.Walk(s.root, func(p string, _ os.FileInfo, err error) error {
		if err != nil || p == s.root {
			return err
		}
		return os.Chtimes(p, listingFixedTime, listingFixedTime)
	})
	mustDo(t, err)
}

// listingEscapePath is the oracle for links: each segment escaped by
// url.PathEscape.
func listingEscapePath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// jsonEntry is an entry of a JSON listing as a client decodes it.
type jsonEntry struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Size  int64   `json:"size"`
	MTime string  `json:"mtime"`
	Href  *string `json:"href"`
}

func decodeListingJSON(t *testing.T, body []byte) []jsonEntry {
	t.Helper()
	var entries []jsonEntry
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		t.Fatalf("JSON listing does not decode: %v\n%s", err, body)
	}
	return entries
}

// htmlLink is a link of the HTML page's table: its href and its text,
// both unescaped as a browser reads them.
type htmlLink struct{ href, text string }

var htmlRowLink = regexp.MustCompile(`<tr><td class="n"><a (?:class="d" )?href="([^"<>]*)">([^<]*)</a></td>`)

func listingHTMLLinks(body []byte) []htmlLink {
	var links []htmlLink
	for _, m := range htmlRowLink.FindAllSubmatch(body, -1) {
		links = append(links, htmlLink{href: html.UnescapeString(string(m[1])), text: html.UnescapeString(string(m[2]))})
	}
	return links
}

// checkListingHeaders checks what every listing answer carries.
func checkListingHeaders(t *testing.T, what string, r response, contentType string) {
	t.Helper()
	for _, h := range [][2]string{
		{"Content-Type", contentType},
		{"Vary", "Accept"},
		{"X-Content-Type-Options", "nosniff"},
		{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"},
	} {
		if got := r.get(h[0]); got != h[1] {
			t.Errorf("%s: %s %q, want %q", what, h[0], got, h[1])
		}
	}
}

func TestListingAccept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string // header lines; none: no Accept
		want   listingFormat
	}{
		{nil, listingText},
		{[]string{"*/*"}, listingText},
		{[]string{"text/plain"}, listingText},
		{[]string{"text/*"}, listingText}, // html and plain tie: the default
		{[]string{"text/html"}, listingHTML},
		{[]string{"TEXT/HTML"}, listingHTML},
		{[]string{"application/json"}, listingJSON},
		{[]string{"application/*"}, listingJSON},
		{[]string{"image/png"}, listingText}, // nothing we have: plain text, never 406
		// Chromium and Firefox.
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"}, listingHTML},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, listingHTML},
		// q-values decide, whatever the order.
		{[]string{"text/html;q=0.5, application/json"}, listingJSON},
		{[]string{"application/json;q=0.4, text/html;q=0.6"}, listingHTML},
		{[]string{"text/html; q=0.9 ; level=1, text/plain;q=0.95"}, listingText},
		{[]string{"application/json;q=1.0, text/html;q=0.999"}, listingJSON},
		// The most specific range sets a type's weight: text/html;q=0
		// rules HTML out even though text/* accepts it.
		{[]string{"text/*, text/html;q=0"}, listingText},
		{[]string{"text/html;q=0, */*"}, listingText},
		{[]string{"text/plain;q=0, text/html;q=0, */*"}, listingJSON},
		{[]string{"*/*;q=0.1, application/json"}, listingJSON},
		// Equal weights: the exact match wins over a wildcard ...
		{[]string{"text/html, */*"}, listingHTML},
		{[]string{"*/*, application/json"}, listingJSON},
		// ... and among exact matches the one listed first.
		{[]string{"application/json, text/html"}, listingJSON},
		{[]string{"text/html, application/json"}, listingHTML},
		// Everything refused: plain text still.
		{[]string{"text/plain;q=0, text/html;q=0, application/json;q=0"}, listingText},
		{[]string{"text/html;q=0.000"}, listingText},
		// Repeated lines are one list.
		{[]string{"text/plain;q=0.5", "text/html"}, listingHTML},
		// Malformed items are ignored, not fatal.
		{[]string{"text/html;q=2, application/json"}, listingJSON},
		{[]string{"text/html;q=abc"}, listingText},
		{[]string{"*/html, html, ;;, application/json;q=0.3"}, listingJSON},
		{[]string{"text/html;q=0.1234"}, listingText},
		{[]string{" text/html ; Q=0.7 , text/plain ; q=0.6 "}, listingHTML},
	}
	for _, tt := range tests {
		var h fasthttp.RequestHeader
		for _, v := range tt.accept {
			h.Add(fasthttp.HeaderAccept, v)
		}
		if got := listingFormatOf(&h); got != tt.want {
			t.Errorf("Accept %q: got format %d, want %d", tt.accept, got, tt.want)
		}
	}
}

// TestListingFormats: the three formats of one tree, their headers, the
// order (directories first, then files, each in byte order), HEAD, and
// the same page with and without the trailing slash.
func TestListingFormats(t *testing.T) {
	t.Parallel()
	forEachListingBackend(t, func(t *testing.T, s listingServer) {
		// "a" the directory sorts before "a-1" and "a.txt", though S3
		// lists its key "a/" after theirs.
		for _, name := range []string{"b.txt", "a.txt", "Z.txt", "a-1", "dir/x", "a/x", "a/b/c/deep.txt"} {
			s.put(t, name, strings.Repeat("x", len(name)))
		}
		s.put(t, "big.bin", strings.Repeat("b", 1536))
		s.fixTimes(t)
		start := time.Now()

		r := s.do(t, "GET", "/files/", "")
		if r.status != 200 {
			t.Fatalf("GET /files/: got %d %q, want 200", r.status, r.body)
		}
		checkListingHeaders(t, "text", r, "text/plain; charset=utf-8")
		const wantText = "a/\ndir/\nZ.txt\na-1\na.txt\nb.txt\nbig.bin\n"
		if string(r.body) != wantText {
			t.Errorf("text listing:\n%q\nwant\n%q", r.body, wantText)
		}
		for _, accept := range []string{"Accept: */*", "Accept: text/plain", "Accept: image/png", "Accept: text/*"} {
			if got := s.do(t, "GET", "/files/", "", accept); string(got.body) != wantText {
				t.Errorf("%s: got %q, want the text listing", accept, got.body)
			}
		}

		r = s.do(t, "GET", "/files/", "", acceptJSON)
		checkListingHeaders(t, "JSON", r, "application/json")
		entries := decodeListingJSON(t, r.body)
		wantJSON := []jsonEntry{
			{Name: "a", Type: "dir"}, {Name: "dir", Type: "dir"},
			{Name: "Z.txt", Type: "file", Size: 5}, {Name: "a-1", Type: "file", Size: 3},
			{Name: "a.txt", Type: "file", Size: 5}, {Name: "b.txt", Type: "file", Size: 5},
			{Name: "big.bin", Type: "file", Size: 1536},
		}
		if len(entries) != len(wantJSON) {
			t.Fatalf("JSON listing: %d entries, want %d:\n%s", len(entries), len(wantJSON), r.body)
		}
		for i, e := range entries {
			w := wantJSON[i]
			if e.Name != w.Name || e.Type != w.Type || e.Size != w.Size || e.Href != nil {
				t.Errorf("JSON entry %d: got %+v, want %+v", i, e, w)
			}
			mtime, err := time.Parse(time.RFC3339, e.MTime)
			switch {
			case err != nil || !strings.HasSuffix(e.MTime, "Z") || mtime.Nanosecond() != 0:
				t.Errorf("JSON entry %q: mtime %q is not RFC 3339 in UTC to the second", e.Name, e.MTime)
			case s.onDisk && !mtime.Equal(listingFixedTime):
				t.Errorf("JSON entry %q: mtime %s, want %s", e.Name, e.MTime, listingFixedTime.Format(time.RFC3339))
			case !s.onDisk && e.Type == "dir" && e.MTime != "0001-01-01T00:00:00Z":
				t.Errorf("JSON entry %q: a directory on S3 has no time: mtime %q, want the zero time", e.Name, e.MTime)
			case !s.onDisk && e.Type == "file" && (mtime.Before(start.Add(-time.Minute)) || mtime.After(start.Add(time.Minute))):
				t.Errorf("JSON entry %q: mtime %s, want about %s", e.Name, e.MTime, start.UTC().Format(time.RFC3339))
			}
		}
		if s.onDisk {
			const first = `{"name":"a","type":"dir","size":0,"mtime":"2026-12-01T21:00:00Z"}`
			if !bytes.HasPrefix(r.body, []byte("[\n"+first+",\n")) || !bytes.HasSuffix(r.body, []byte("}\n]\n")) {
				t.Errorf("JSON listing is not one entry a line:\n%s", r.body)
			}
		}

		r = s.do(t, "GET", "/files/", "", acceptHTML)
		checkListingHeaders(t, "HTML", r, "text/html; charset=utf-8")
		wantLinks := []htmlLink{
			{"/files/a/", "a/"}, {"/files/dir/", "dir/"},
			{"/files/Z.txt", "Z.txt"}, {"/files/a-1", "a-1"}, {"/files/a.txt", "a.txt"},
			{"/files/b.txt", "b.txt"}, {"/files/big.bin", "big.bin"},
		}
		if links := listingHTMLLinks(r.body); !equalLinks(links, wantLinks) {
			t.Errorf("HTML links:\n%q\nwant\n%q", links, wantLinks)
		}
		for _, want := range []string{"<title>Index of /files/</title>", `title="1536 bytes">1.5 KiB</td>`, `title="5 bytes">5 B</td>`, "2 directories, 5 files"} {
			if !bytes.Contains(r.body, []byte(want)) {
				t.Errorf("HTML page lacks %q:\n%s", want, r.body)
			}
		}
		if s.onDisk && !bytes.Contains(r.body, []byte(`<time datetime="2026-12-01T21:00:00Z">2026-12-01 21:00</time>`)) {
			t.Errorf("HTML page lacks the entries' time:\n%s", r.body)
		}
		if bytes.Contains(r.body, []byte("../")) {
			t.Errorf("the root's page links a parent:\n%s", r.body)
		}

		// HEAD: GET's headers, its Content-Length included, and no body.
		for _, accept := range []string{"", acceptJSON, acceptHTML} {
			get := s.do(t, "GET", "/files/a/", "", accept)
			head := s.do(t, "HEAD", "/files/a/", "", accept)
			if head.status != 200 || len(head.body) != 0 {
				t.Errorf("HEAD (%s): got %d with %d body bytes, want 200 and none", accept, head.status, len(head.body))
			}
			if cl := head.get("Content-Length"); cl != strconv.Itoa(len(get.body)) || get.get("Content-Length") != cl {
				t.Errorf("HEAD (%s): Content-Length %q, GET's %q with %d bytes", accept, cl, get.get("Content-Length"), len(get.body))
			}
			checkListingHeaders(t, "HEAD "+accept, head, get.get("Content-Type"))
			// With or without the trailing slash, the same page.
			if bare := s.do(t, "GET", "/files/a", "", accept); bare.status != 200 || !bytes.Equal(bare.body, get.body) {
				t.Errorf("GET /files/a (%s): got %d, not the page of /files/a/:\n%s", accept, bare.status, bare.body)
			}
		}
	})
}

func equalLinks(a, b []htmlLink) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestListingParentLinks: every page but the root's links its parent, and
// its heading links each ancestor, by absolute paths.
func TestListingParentLinks(t *testing.T) {
	t.Parallel()
	forEachListingBackend(t, func(t *testing.T, s listingServer) {
		s.put(t, "a b/c&d/e#f/file", "x")
		tests := []struct {
			path, parent string
			crumbs       []string // the heading's links
		}{
			{"/files/", "", nil},
			{"/files/a%20b/", "/files/", []string{"/files/"}},
			{"/files/a%20b/c&d", "/files/a%20b/", []string{"/files/", "/files/a%20b/"}},
			{"/files/a%20b/c%26d/e%23f/", "/files/a%20b/c&d/", []string{"/files/", "/files/a%20b/", "/files/a%20b/c&d/"}},
		}
		crumbLink := regexp.MustCompile(`<a href="([^"]*)">`)
		for _, tt := range tests {
			r := s.do(t, "GET", tt.path, "", acceptHTML)
			if r.status != 200 {
				t.Errorf("GET %s: got %d %q, want 200", tt.path, r.status, r.body)
				continue
			}
			links := listingHTMLLinks(r.body)
			hasParent := len(links) > 0 && links[0].text == "../"
			switch {
			case tt.parent == "" && hasParent:
				t.Errorf("GET %s: links a parent %q, want none at the root", tt.path, links[0].href)
			case tt.parent != "" && (!hasParent || links[0].href != tt.parent):
				t.Errorf("GET %s: links %q, want the parent %q first", tt.path, links, tt.parent)
			}
			heading, _, _ := bytes.Cut(r.body, []byte("</h1>"))
			_, heading, _ = bytes.Cut(heading, []byte("<h1>"))
			var crumbs []string
			for _, m := range crumbLink.FindAllSubmatch(heading, -1) {
				crumbs = append(crumbs, html.UnescapeString(string(m[1])))
			}
			if strings.Join(crumbs, " ") != strings.Join(tt.crumbs, " ") {
				t.Errorf("GET %s: heading links %q, want %q", tt.path, crumbs, tt.crumbs)
			}
		}
		r := s.do(t, "GET", "/files/a%20b/c&d/e%23f/", "", acceptHTML)
		if !bytes.Contains(r.body, []byte("<title>Index of /files/a b/c&amp;d/e#f/</title>")) {
			t.Errorf("the title does not name the directory, escaped:\n%s", r.body)
		}
		if want := (htmlLink{"/files/a%20b/c&d/e%23f/file", "file"}); !equalLinks(listingHTMLLinks(r.body)[1:], []htmlLink{want}) {
			t.Errorf("the entry links %q, want %q", listingHTMLLinks(r.body), want)
		}
	})
}

// listingHostile is a name that must survive every format.
type listingHostile struct {
	name     string // as stored
	text     string // its line in the text listing, without the newline
	display  string // the link's text in the HTML page, as a browser reads it
	jsonName string // "name" in JSON
	diskOnly bool   // S3 cannot hold it, or /files/ cannot write it
}

// link is the href and text the HTML listing of /files/ gives h, a
// directory when isDir says so.
func (h listingHostile) link(isDir func(string) bool) (href, text string) {
	href, text = "/files/"+url.PathEscape(h.name), h.display
	if isDir(h.name) {
		href, text = href+"/", text+"/"
	}
	return href, text
}

// listingHostileNames: markup, quotes, escapes, control characters,
// bytes that are not UTF-8, URL delimiters.
var listingHostileNames = []listingHostile{
	{name: `<img src=x onerror=alert(1)>`},
	{name: `"double" 'single'`},
	{name: `a&b&amp;c`},
	{name: `100%`},
	{name: `%2e`},
	{name: `%2e%2e%2f`},
	{name: "new\nline", text: `new\nline`, display: "new\u240aline"},
	{name: "tab\there", text: `tab\there`, display: "tab\u2409here"},
	{name: `with  spaces `},
	{name: `#hash`},
	{name: `question?mark=1&x`},
	{name: `semi;colon,comma+plus@at$`},
	{name: `ünïcödé 日本語 🎉`},
	{name: "\u202egnp.exe"},        // right-to-left override
	{name: `<b>dir<b> & "quotes"`}, // a directory: it holds a file
	{name: "bad\xffbyte", text: `bad\xffbyte`, display: "bad\ufffdbyte", jsonName: "bad\ufffdbyte", diskOnly: true},
	{name: "\xc3\x28", text: `\xc3(`, display: "\ufffd(", jsonName: "\ufffd(", diskOnly: true},
	{name: "ctl\x01\x7f", text: `ctl\x01\x7f`, display: "ctl\u2401\u2421", diskOnly: true},
	{name: `back\slash`, text: `back\\slash`, diskOnly: true},
	{name: "cr\rx", text: `cr\rx`, display: "cr\u240dx", diskOnly: true},
}

// TestListingHostileNames: names that are markup, escapes, control
// characters or not UTF-8 are listed, exactly or visibly escaped, in all
// three formats, and every link leads back to the entry.
func TestListingHostileNames(t *testing.T) {
	t.Parallel()
	forEachListingBackend(t, func(t *testing.T, s listingServer) {
		const dirName = `<b>dir<b> & "quotes"`
		var names []listingHostile
		for _, h := range listingHostileNames {
			if h.diskOnly && !s.onDisk {
				continue
			}
			h.text = cmpOr(h.text, h.name)
			h.display = cmpOr(h.display, h.name)
			h.jsonName = cmpOr(h.jsonName, h.name)
			names = append(names, h)
			switch {
			case h.name == dirName:
				s.put(t, h.name+"/inside", "in")
			case h.diskOnly:
				mustDo(t, os.WriteFile(filepath.Join(s.root, h.name), []byte(h.name), 0o644))
			default:
				s.put(t, h.name, h.name)
			}
		}
		// The first <script> names a directory: </ starts its file.
		s.put(t, "<script>alert(1)</script>", "x")

		isDir := func(name string) bool { return name == dirName || name == "<script>alert(1)<" }
		// The listing's order: directories first, then files, by bytes.
		ordered := append([]listingHostile{{name: "<script>alert(1)<"}}, names...)
		ordered[0].text, ordered[0].display, ordered[0].jsonName = ordered[0].name, ordered[0].name, ordered[0].name
		sortListing(ordered, isDir)

		// Text: one line an entry, exactly.
		r := s.do(t, "GET", "/files/", "")
		var wantText strings.Builder
		for _, h := range ordered {
			wantText.WriteString(h.text)
			if isDir(h.name) {
				wantText.WriteString("/")
			}
			wantText.WriteString("\n")
		}
		if string(r.body) != wantText.String() {
			t.Errorf("text listing:\n%q\nwant\n%q", r.body, wantText.String())
		}
		if !utf8.Valid(r.body) {
			t.Errorf("text listing is not UTF-8: %q", r.body)
		}

		// JSON: valid, with the names; href where a name is not UTF-8.
		r = s.do(t, "GET", "/files/", "", acceptJSON)
		if !json.Valid(r.body) || !utf8.Valid(r.body) {
			t.Fatalf("JSON listing is not valid UTF-8 JSON:\n%q", r.body)
		}
		entries := decodeListingJSON(t, r.body)
		if len(entries) != len(ordered) {
			t.Fatalf("JSON listing: %d entries, want %d:\n%s", len(entries), len(ordered), r.body)
		}
		for i, e := range entries {
			h := ordered[i]
			if e.Name != h.jsonName {
				t.Errorf("JSON entry %d: name %q, want %q", i, e.Name, h.jsonName)
			}
			wantHref := "/files/" + url.PathEscape(h.name)
			switch {
			case utf8.ValidString(h.name) && e.Href != nil:
				t.Errorf("JSON entry %q: href %q, want none for a UTF-8 name", e.Name, *e.Href)
			case !utf8.ValidString(h.name) && (e.Href == nil || *e.Href != wantHref):
				t.Errorf("JSON entry %q: href %v, want %q", e.Name, e.Href, wantHref)
			}
		}

		// HTML: every name escaped, every link exact; no markup of theirs.
		r = s.do(t, "GET", "/files/", "", acceptHTML)
		if !utf8.Valid(r.body) {
			t.Errorf("HTML page is not UTF-8")
		}
		links := listingHTMLLinks(r.body)
		if len(links) != len(ordered) {
			t.Fatalf("HTML page: %d links, want %d:\n%s", len(links), len(ordered), r.body)
		}
		for i, l := range links {
			wantHref, wantText := ordered[i].link(isDir)
			if l.href != wantHref || l.text != wantText {
				t.Errorf("HTML link %d: got %q %q, want %q %q", i, l.href, l.text, wantHref, wantText)
			}
		}
		for _, bad := range []string{"<script", "<img", "<b>", "alert(1)<"} {
			if bytes.Contains(r.body, []byte(bad)) {
				t.Errorf("HTML page carries %q unescaped", bad)
			}
		}
		if n := bytes.Count(r.body, []byte("<a ")); n != len(ordered) {
			t.Errorf("HTML page: %d <a> elements, want %d", n, len(ordered))
		}

		// Following each link gets the entry: its bytes, or its listing.
		for _, h := range ordered {
			if strings.Contains(h.name, `\`) || !utf8.ValidString(h.name) {
				continue // stored and listed, but resolvePath refuses such a path (400)
			}
			link := "/files/" + url.PathEscape(h.name)
			if isDir(h.name) {
				link += "/"
			}
			got := s.do(t, "GET", link, "")
			switch {
			case got.status != 200:
				t.Errorf("GET %s (%q): got %d %q, want 200", link, h.name, got.status, got.body)
			case !isDir(h.name) && string(got.body) != h.name:
				t.Errorf("GET %s: got %q, want the file's bytes %q", link, got.body, h.name)
			}
		}
		r = s.do(t, "GET", "/files/"+url.PathEscape(dirName)+"/", "", acceptHTML)
		if !bytes.Contains(r.body, []byte("<title>Index of /files/&lt;b&gt;dir&lt;b&gt; &amp; &#34;quotes&#34;/</title>")) {
			t.Errorf("the hostile directory's title is not escaped:\n%s", r.body)
		}
	})
}

// cmpOr returns a, or b when a is empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sortListing orders entries as a listing does: directories first, then
// files, each by the bytes of their names.
func sortListing(entries []listingHostile, isDir func(string) bool) {
	less := func(a, b listingHostile) bool {
		if isDir(a.name) != isDir(b.name) {
			return isDir(a.name)
		}
		return a.name < b.name
	}
	for i := 1; i < len(entries); i++ {
		for j := i; j > 0 && less(entries[j], entries[j-1]); j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
}

// TestListingErrors: what is not a directory, or not one we may list,
// gets the error a read of it would.
func TestListingErrors(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	makeFS(t, outside, "secret.txt=secret")
	s := newTestServer(t, nil)
	makeFS(t, s.root, "file.txt=x", "sub/inner.txt=y", "empty/",
		"out => "+outside, "in => sub", "dangling => nowhere", "sub/up => ../../"+filepath.Base(outside))
	tests := []struct {
		path     string
		wantCode int
	}{
		{"/files/missing/", 404},
		{"/files/missing", 404},
		{"/files/file.txt/", 404},
		{"/files/out/", 403}, // a symlink out of the root is never listed
		{"/files/out", 403},
		{"/files/in/", 200}, // one inside is followed
		{"/files/empty/", 200},
		{"/files/%2e%2e/", 400},
		{"/files/sub/%2e%2e/", 400},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			for _, accept := range []string{"", acceptJSON, acceptHTML} {
				r := s.do(t, method, tt.path, "", accept)
				if r.status != tt.wantCode {
					t.Errorf("%s %s (%s): got %d %q, want %d", method, tt.path, accept, r.status, r.body, tt.wantCode)
				}
				if tt.wantCode >= 400 && bytes.Contains(r.body, []byte("secret")) {
					t.Errorf("%s %s: the body shows what is outside the root: %q", method, tt.path, r.body)
				}
			}
		}
	}
	// In the root's listing: the symlink inside shows as the directory
	// it is; those leading out or nowhere are not there.
	if r := s.do(t, "GET", "/files/", ""); string(r.body) != "empty/\nin/\nsub/\nfile.txt\n" {
		t.Errorf("root listing %q, want the symlink in as a directory and no link out", r.body)
	}
	if r := s.do(t, "GET", "/files/in/", ""); string(r.body) != "inner.txt\n" {
		t.Errorf("listing through a symlink inside: %q, want %q", r.body, "inner.txt\n")
	}
}

// TestListingEmpty: an empty directory has an empty text listing, an
// empty JSON array and a page with no rows, all with their lengths.
func TestListingEmpty(t *testing.T) {
	t.Parallel()
	forEachListingBackend(t, func(t *testing.T, s listingServer) {
		tests := []struct{ accept, want string }{{"", ""}, {acceptJSON, "[]\n"}, {acceptHTML, ""}}
		for _, tt := range tests {
			for _, method := range []string{"GET", "HEAD"} {
				r := s.do(t, method, "/files/", "", tt.accept)
				if r.status != 200 {
					t.Fatalf("%s /files/ (%s): got %d %q, want 200", method, tt.accept, r.status, r.body)
				}
				if method == "GET" && tt.accept != acceptHTML && string(r.body) != tt.want {
					t.Errorf("GET /files/ (%s): got %q, want %q", tt.accept, r.body, tt.want)
				}
				if method == "GET" && tt.accept == acceptHTML && (len(listingHTMLLinks(r.body)) != 0 || !bytes.Contains(r.body, []byte("0 directories, 0 files"))) {
					t.Errorf("GET /files/ (HTML): not an empty page:\n%s", r.body)
				}
				if method == "HEAD" && r.get("Content-Length") == "" {
					t.Errorf("HEAD /files/ (%s): no Content-Length", tt.accept)
				}
			}
		}
		if !s.onDisk {
			return
		}
		mustDo(t, os.Mkdir(filepath.Join(s.root, "e"), 0o755))
		if r := s.do(t, "GET", "/files/e/", ""); r.status != 200 || len(r.body) != 0 || r.get("Content-Length") != "0" {
			t.Errorf("GET /files/e/: got %d %q, Content-Length %q; want 200, empty, 0", r.status, r.body, r.get("Content-Length"))
		}
	})
}

// TestListingAccessLog: a streamed listing ends the request once, after
// its last byte, and logs the bytes actually sent; HEAD logs none.
func TestListingAccessLog(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for i := range 2000 { // several chunks of the rendered body
		mustDo(t, os.WriteFile(filepath.Join(root, "file-"+strconv.Itoa(i)), nil, 0o644))
	}
	var logOut lockedBuffer
	cfg := testConfig(root)
	s := listingServeOn(t, cfg, testBackend(t, root), &logOut)
	get := s.do(t, "GET", "/files/", "", acceptHTML)
	s.do(t, "HEAD", "/files/", "", acceptHTML)
	if get.status != 200 || len(get.body) < 2*listingChunk {
		t.Fatalf("GET /files/: got %d with %d bytes, want 200 and a body of several chunks", get.status, len(get.body))
	}
	var lines []string
	pollUntil(5*time.Second, func() bool {
		lines = strings.Split(strings.TrimSpace(logOut.String()), "\n")
		return len(lines) >= 2
	})
	time.Sleep(100 * time.Millisecond) // a third line would be a request ended twice
	lines = strings.Split(strings.TrimSpace(logOut.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log: %d lines, want one a request:\n%s", len(lines), logOut.String())
	}
	for i, want := range []string{" GET /files/ 200 " + strconv.Itoa(len(get.body)) + " ", " HEAD /files/ 200 0 "} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("access log line %q, want it to contain %q", lines[i], want)
		}
	}
}

// FuzzListingSegment: a listing's links escape a name as url.PathEscape
// does, and the server's decoding gives the name back.
func FuzzListingSegment(f *testing.F) {
	for _, h := range listingHostileNames {
		f.Add(h.name)
	}
	f.Add("a/b")     // a slash within a segment must be escaped
	f.Add("$&+:=@~") // sub-delimiters PathEscape keeps
	f.Add("\x00\x80\xff")
	f.Fuzz(func(t *testing.T, name string) {
		got := string(listingAppendSegment(nil, name))
		if want := url.PathEscape(name); got != want {
			t.Fatalf("segment %q: escaped %q, want %q", name, got, want)
		}
		if back, err := url.PathUnescape(got); err != nil || back != name {
			t.Fatalf("segment %q: %q decodes to %q (%v)", name, got, back, err)
		}
	})
}

// TestListingHumanSize: the sizes the page shows.
func TestListingHumanSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {10 << 10, "10 KiB"},
		{1<<20 - 1, "1024 KiB"}, {5 << 20, "5.0 MiB"}, {123 << 30, "123 GiB"}, {1 << 62, "4.0 EiB"},
	} {
		if got := string(listingAppendHumanSize(nil, tt.n)); got != tt.want {
			t.Errorf("size %d: got %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestListingHugeDirectory: a directory of 100,000 entries is listed, in
// every format, with the answer streamed: the server's peak RSS grows by
// less than 32 MiB.
func TestListingHugeDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100,000 files; skipped with -short")
	}
	const entries = 100_000
	root := t.TempDir()
	big := filepath.Join(root, "big")
	mustDo(t, os.Mkdir(big, 0o755))
	created := time.Now()
	for i := range entries {
		name := "entry-" + strconv.Itoa(1_000_000 + i)[1:] + "-with-a-longer-name.txt"
		if i%100 == 0 {
			mustDo(t, os.Mkdir(filepath.Join(big, name+".d"), 0o755))
			continue
		}
		mustDo(t, os.WriteFile(filepath.Join(big, name), nil, 0o644))
	}
	t.Logf("created %d entries in %v", entries, time.Since(created))

	p := startBinary(t, root, "--quiet")
	pid := p.cmd.Process.Pid
	assertHealthy(t, p)
	hwm0 := procStatus(t, pid, "VmHWM")
	client, _ := newClient(t, time.Minute)
	for _, accept := range []string{"text/html", "application/json", "text/plain"} {
		req, err := http.NewRequest(http.MethodGet, p.url("/files/big/"), nil)
		mustDo(t, err)
		req.Header.Set("Accept", accept)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /files/big/ (%s): %v", accept, err)
		}
		firstByte := time.Since(start)
		n, lines, err := countLines(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != 200 || n != resp.ContentLength {
			t.Fatalf("GET /files/big/ (%s): %d, %d bytes of %d (%v)", accept, resp.StatusCode, n, resp.ContentLength, err)
		}
		if lines < entries {
			t.Errorf("GET /files/big/ (%s): %d lines, want at least one an entry (%d)", accept, lines, entries)
		}
		rss, hwm := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
		t.Logf("%s: %d bytes in %v (head after %v); server VmRSS %d kB, VmHWM %d kB (+%d kB since start-up)",
			accept, n, took, firstByte, rss, hwm, hwm-hwm0)
	}
	if grew := procStatus(t, pid, "VmHWM") - hwm0; grew >= 32<<10 {
		t.Errorf("server VmHWM grew by %d kB listing %d entries, want < %d kB", grew, entries, 32<<10)
	}
	assertHealthy(t, p)
}

// countLines reads r to its end and counts its bytes and lines.
func countLines(r io.Reader) (n int64, lines int, err error) {
	buf := make([]byte, 64<<10)
	for {
		m, err := r.Read(buf)
		n += int64(m)
		lines += bytes.Count(buf[:m], []byte{'\n'})
		if err == io.EOF {
			return n, lines, nil
		}
		if err != nil {
			return n, lines, err
		}
	}
}
