package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Protocol details that clients and RFC 9110 expect, each once wrong.

// TestRepeatedListHeadersAreOneList: two Accept-Encoding lines are one
// comma-separated list (RFC 9110 section 5.3), and so are two
// If-None-Match lines.
func TestRepeatedListHeadersAreOneList(t *testing.T) {
	s := newTestServer(t, nil)
	r, _ := s.raw(t, "GET /echo/x HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n", time.Second)
	if !strings.Contains(strings.ToLower(r), "content-encoding: gzip") {
		t.Errorf("gzip on a second Accept-Encoding line: got %q, want a gzip answer", r)
	}
	writeTree(t, s.root, "f", []byte("data"))
	etag := s.do(t, "HEAD", "/files/f", "", "").get("ETag")
	r, _ = s.raw(t, "GET /files/f HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\nIf-None-Match: "+etag+"\r\nConnection: close\r\n\r\n", time.Second)
	if !strings.HasPrefix(r, "HTTP/1.1 304") {
		t.Errorf("the ETag on a second If-None-Match line: got %q, want 304", firstLine([]byte(r)))
	}
	r, _ = s.raw(t, "PUT /files/f HTTP/1.1\r\nHost: x\r\nIf-Match: \"other\"\r\nIf-Match: "+etag+"\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnew", time.Second)
	if !strings.HasPrefix(r, "HTTP/1.1 204") {
		t.Errorf("the ETag on a second If-Match line: got %q, want 204", firstLine([]byte(r)))
	}
}

// TestRequestLineTooLongIs414: a request line longer than the head limit
// gets 414, headers over it 431, also on a keep-alive connection.
func TestRequestLineTooLongIs414(t *testing.T) {
	p := startBinary(t, t.TempDir())
	long := "/echo/" + strings.Repeat("a", 20000)
	cases := []struct {
		name, req string
		want      []int
	}{
		{"line", "GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", []int{414}},
		{"headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n", []int{431}},
		{"line after a request", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", []int{200, 414}},
	}
	for _, tc := range cases {
		c := dialRaw(t, p)
		c.send(tc.req)
		for _, want := range tc.want {
			if r := c.mustRead(http.MethodGet); r.status != want {
				t.Errorf("%s: got %d %q, want %d", tc.name, r.status, r.body, want)
			}
		}
	}
}

// TestHeaderTimeoutIs408: a head still unfinished at --read-timeout gets
// 408 and the connection closes. The connection enforces the timeouts
// (see conn), so this takes the binary, over TCP.
func TestHeaderTimeoutIs408(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir(), "--read-timeout", "300ms")
	c := dialRaw(t, p)
	c.send("GET /echo/x HTTP/1.1\r\nHo")
	start := time.Now()
	r, err := c.read(http.MethodGet, 3*time.Second)
	if err != nil || r.status != 408 {
		t.Fatalf("unfinished head: got %+v, %v; want 408", r, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("408 after %v, want about 300ms", took)
	}
	if _, closed := c.rest(time.Second); !closed {
		t.Errorf("the connection stayed open after the 408")
	}
}

// TestDeadlinesOfEarlierWaitsPassUnfelt: a deadline armed for one wait
// (see conn.armRead, armWrite) stays on the socket after it, and passes
// while the connection does something else. It must not cut off a later
// read or write that had no need to wait yet. Here a download stalls the
// server's writes for 1 s, so the read deadline of the wait for its
// request (300 ms) passes before the next request is read; then an upload
// paced within --read-timeout takes over 2 s, so the write deadline the
// download armed (--write-timeout 2s) passes before its answer goes out.
// Both requests and a third must be served on the one connection.
func TestDeadlinesOfEarlierWaitsPassUnfelt(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16)
	writeTree(t, root, "big", big)
	p := startBinary(t, root, "--read-timeout", "300ms", "--idle-timeout", "300ms", "--write-timeout", "2s")
	c := dialRawWith(t, p, smallRcvBufDialer(8<<10))

	time.Sleep(100 * time.Millisecond) // the server's read waits, with a deadline
	c.send("GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(time.Second) // the server's socket fills; its write waits
	if r := c.mustRead(http.MethodGet); r.status != 200 || !bytes.Equal(r.body, big) {
		t.Fatalf("download: got %d and %d bytes, want 200 and the %d of the file", r.status, len(r.body), len(big))
	}

	c.send("PUT /files/up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
	for _, b := range "hello world" {
		time.Sleep(200 * time.Millisecond)
		c.send(string(b))
	}
	if r := c.mustRead(http.MethodPut); r.status != 201 {
		t.Fatalf("upload after the download, on the same connection: got %d %q, want 201", r.status, r.body)
	}
	c.send("GET /files/up HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := c.mustRead(http.MethodGet); r.status != 200 || string(r.body) != "hello world" {
		t.Fatalf("a third request: got %d %q, want 200 \"hello world\"", r.status, r.body)
	}
}

// TestHeadEndSplitAcrossReads: the blank line that ends a head may
// arrive split over two reads, anywhere in it. The connection must still
// see the head end there (see conn.headRead), so that a body full of line
// feeds is not counted as header fields (431) and its pause before the
// body is bounded from the head's end.
func TestHeadEndSplitAcrossReads(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir())
	body := strings.Repeat("line\n", 300)
	head := fmt.Sprintf("PUT /files/lines.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
	for split := len(head) - 4; split < len(head); split++ {
		c := dialRaw(t, p)
		c.send(head[:split])
		time.Sleep(50 * time.Millisecond) // two reads on the server
		c.send(head[split:] + body)
		if r := c.mustRead(http.MethodPut); r.status != 201 && r.status != 204 {
			t.Errorf("head split %q | %q: got %d %q, want 201 or 204", head[split-2:split], head[split:], r.status, r.body)
		}
	}
}

// TestAbsoluteFormWithoutPath: GET http://x?a is served as GET /?a.
func TestAbsoluteFormWithoutPath(t *testing.T) {
	s := newTestServer(t, nil)
	for _, target := range []string{"http://x?a", "http://x"} {
		r, _ := s.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", time.Second)
		if !strings.HasPrefix(r, "HTTP/1.1 200") {
			t.Errorf("GET %s: got %q, want 200 as for /", target, firstLine([]byte(r)))
		}
	}
}

// TestReasonPhrasesFollowRFC9110: the renamed reason phrases.
func TestReasonPhrasesFollowRFC9110(t *testing.T) {
	s := newTestServer(t, func(c *config) { c.maxBodySize = 10 })
	writeTree(t, s.root, "f", []byte("data"))
	cases := []struct{ req, want string }{
		{"PUT /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100), "HTTP/1.1 413 Content Too Large"},
		{"GET /files/f HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\nConnection: close\r\n\r\n", "HTTP/1.1 416 Range Not Satisfiable"},
	}
	for _, tc := range cases {
		if r, _ := s.raw(t, tc.req, time.Second); firstLine([]byte(r)) != tc.want {
			t.Errorf("got %q, want %q", firstLine([]byte(r)), tc.want)
		}
	}
	// A later status does not inherit a renamed phrase.
	r := s.do(t, "GET", "/files/missing", "")
	if r.status != 404 {
		t.Errorf("GET of a missing file: got %d", r.status)
	}
}

// TestHeadUserAgentWithoutOne: HEAD carries GET's Content-Length, also 0.
func TestHeadUserAgentWithoutOne(t *testing.T) {
	s := newTestServer(t, nil)
	r, _ := s.raw(t, "HEAD /user-agent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", time.Second)
	if !strings.Contains(r, "\r\nContent-Length: 0\r\n") {
		t.Errorf("HEAD /user-agent without User-Agent: got %q, want Content-Length: 0", r)
	}
}

// TestDateNotBeforeLastModified: a file written a moment ago is not
// announced as modified after the answer's Date.
func TestDateNotBeforeLastModified(t *testing.T) {
	p := startBinary(t, t.TempDir())
	deadline := time.Now().Add(2500 * time.Millisecond) // covers every phase of fasthttp's Date
	for i := 0; time.Now().Before(deadline); i++ {
		upload(t, p, "PUT", "/files/fresh", []byte{byte(i)})
		r := getRaw(t, p, "/files/fresh")
		date, err1 := http.ParseTime(r.header.Get("Date"))
		lastMod, err2 := http.ParseTime(r.header.Get("Last-Modified"))
		if err1 != nil || err2 != nil {
			t.Fatalf("Date %q, Last-Modified %q: %v %v", r.header.Get("Date"), r.header.Get("Last-Modified"), err1, err2)
		}
		if lastMod.After(date) {
			t.Fatalf("Last-Modified %v is after Date %v", lastMod, date)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIfRangeDateMustBeStrong: a date is a strong validator only when
// the file is at least a second older than the answer (RFC 9110 section
// 8.8.2.2), so a resumed download never stitches two versions together.
func TestIfRangeDateMustBeStrong(t *testing.T) {
	s := newTestServer(t, nil)
	writeTree(t, s.root, "f", []byte("0123456789"))
	lastMod := s.do(t, "HEAD", "/files/f", "", "").get("Last-Modified")
	if r := s.do(t, "GET", "/files/f", "", "Range: bytes=2-", "If-Range: "+lastMod); r.status != 200 || string(r.body) != "0123456789" {
		t.Errorf("If-Range with the date of a file changed under a second ago: got %d %q, want 200 and the whole file", r.status, r.body)
	}
	writeTree(t, s.root, "g", []byte("0123456789"))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(s.root, "g"), old, old); err != nil {
		t.Fatal(err)
	}
	lastMod = s.do(t, "HEAD", "/files/g", "", "").get("Last-Modified")
	if r := s.do(t, "GET", "/files/g", "", "Range: bytes=2-", "If-Range: "+lastMod); r.status != 206 || string(r.body) != "23456789" {
		t.Errorf("If-Range with the date of an hour-old file: got %d %q, want 206 \"23456789\"", r.status, r.body)
	}
}

// TestSuffixRangeOfEmptyFile: bytes=-5 of an empty file is satisfiable
// (RFC 9110 section 14.1.1): 200 with the empty body; bytes=-0 is not.
func TestSuffixRangeOfEmptyFile(t *testing.T) {
	s := newTestServer(t, nil)
	writeTree(t, s.root, "empty", nil)
	if r := s.do(t, "GET", "/files/empty", "", "Range: bytes=-5"); r.status != 200 || len(r.body) != 0 {
		t.Errorf("bytes=-5 of an empty file: got %d %q, want 200 and nothing", r.status, r.body)
	}
	if r := s.do(t, "GET", "/files/empty", "", "Range: bytes=-0"); r.status != 416 {
		t.Errorf("bytes=-0 of an empty file: got %d, want 416", r.status)
	}
}
