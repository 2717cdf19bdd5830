package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
)

// TestCacheKeyedByName: every spelling of one path shares one cache
// entry, so the backend opens the file once; 60,000 encodings of one file
// once made 60,000 entries.
func TestCacheKeyedByName(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "abc", []byte("x"))
	counted := &countingOpens{Backend: testDir(t, dir)}
	h := newHandler(testConfig(dir), store.NewCache(counted), newAccessLog(io.Discard, true))
	srv := &fasthttp.Server{Handler: h.serve}
	spellings := []string{"abc", "%61bc", "a%62c", "ab%63", "%61%62%63", "%61%62c"}
	c := &connStub{}
	for _, sp := range spellings {
		c.serve(t, srv, "GET /files/"+sp+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if !strings.HasPrefix(c.w.String(), "HTTP/1.1 200") || !strings.HasSuffix(c.w.String(), "\r\n\r\nx") {
			t.Fatalf("GET /files/%s: got %q", sp, c.w.String())
		}
	}
	if n := counted.opens.Load(); n != 1 {
		t.Errorf("%d spellings of one path opened the file %d times, want 1", len(spellings), n)
	}
}

// countingOpens counts the files its backend opens.
type countingOpens struct {
	store.Backend
	opens atomic.Int32
}

func (c *countingOpens) Open(ctx context.Context, name string, rng store.Range) (store.Object, error) {
	c.opens.Add(1)
	return c.Backend.Open(ctx, name, rng)
}

// TestCacheSeesRewriteInPlace: a file rewritten with the same size, mtime
// and inode (a tar or reproducible-build deploy) is served anew after the
// revalidation interval, with a new ETag: the change time tells.
func TestCacheSeesRewriteInPlace(t *testing.T) {
	s := newTestServer(t, nil)
	writeTree(t, s.root, "f", []byte("old!"))
	first := s.do(t, "GET", "/files/f", "")
	name := filepath.Join(s.root, "f")
	before, err := os.Stat(name)
	mustDo(t, err)
	mustDo(t, os.WriteFile(name, []byte("new!"), 0o644))
	mustDo(t, os.Chtimes(name, time.Time{}, before.ModTime()))
	time.Sleep(store.CacheRevalidate + 100*time.Millisecond)
	second := s.do(t, "GET", "/files/f", "")
	if string(second.body) != "new!" {
		t.Errorf("after a rewrite in place and %v: got %q, want \"new!\"", store.CacheRevalidate, second.body)
	}
	if second.get("ETag") == first.get("ETag") {
		t.Errorf("the ETag %s did not change with the bytes", first.get("ETag"))
	}
	// The same holds for a file not served from memory.
	big := strings.Repeat("a", store.MaxCachedFile+1)
	writeTree(t, s.root, "big", []byte(big))
	bigFirst := s.do(t, "HEAD", "/files/big", "", "")
	before, err = os.Stat(filepath.Join(s.root, "big"))
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(s.root, "big"), []byte(strings.ToUpper(big)), 0o644))
	mustDo(t, os.Chtimes(filepath.Join(s.root, "big"), time.Time{}, before.ModTime()))
	if s.do(t, "HEAD", "/files/big", "", "").get("ETag") == bigFirst.get("ETag") {
		t.Errorf("the ETag of a large file rewritten in place did not change")
	}
}

// TestHeldFilesOverTCP: files the cache holds open (between 16 and 64
// KiB) go out whole with sendfile at each request's own offset, ranges and
// pipelined requests included; bodies around the write buffer's size are
// never held back waiting for a write that does not come (see
// holdHeadForBody); and no descriptor outlives its file: after a DELETE,
// a replacement behind the server's back, HEADs and 304s, the server holds
// no deleted file open, and after a write none at all.
func TestHeldFilesOverTCP(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	sizes := []int{1, writeBufferSize - 200, writeBufferSize, writeBufferSize + 1, 16 << 10, 16<<10 + 1, 40_000, store.MaxCachedFile}
	for i, n := range sizes {
		writeTree(t, root, fmt.Sprintf("f%d", i), pattern(uint64(i), n))
	}
	p := startBinary(t, root, "--quiet")
	c := dialRaw(t, p)
	get := func(target string, headers ...string) *rawResp {
		t.Helper()
		c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n")
		r, err := c.read("GET", 5*time.Second)
		if err != nil {
			t.Fatalf("GET %s %q: %v (a response held back?)", target, headers, err)
		}
		return r
	}
	for round := range 2 { // the first fills the cache, the second is served from it
		for i, n := range sizes {
			if r := get(fmt.Sprintf("/files/f%d", i)); r.status != 200 || !bytes.Equal(r.body, pattern(uint64(i), n)) {
				t.Fatalf("round %d, %d bytes: got %d with %d bytes, not the file", round, n, r.status, len(r.body))
			}
		}
	}
	// An answer held back for a write that never comes goes out only
	// when a timer of the kernel's fires (40-200 ms): 100 answers that
	// each fit in one write would take 4 s or more. The bound, half of
	// that, is a liveness check, not a speed one.
	start := time.Now()
	for i := range 100 {
		if r := get(fmt.Sprintf("/files/f%d", i%2)); r.status != 200 {
			t.Fatalf("got %d", r.status)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100 small answers on one connection took %v: held back for a write that did not come", d)
	}
	mid := pattern(6, 40_000)
	if r := get("/files/f6", "Range: bytes=1000-1999"); r.status != 206 || !bytes.Equal(r.body, mid[1000:2000]) {
		t.Errorf("range 1000-1999: got %d with %d bytes", r.status, len(r.body))
	}
	if r := get("/files/f6", "Range: bytes=-10"); r.status != 206 || !bytes.Equal(r.body, mid[len(mid)-10:]) {
		t.Errorf("range -10: got %d with %d bytes", r.status, len(r.body))
	}
	// Pipelined: each answer whole and in order.
	c.send(strings.Repeat("GET /files/f6 HTTP/1.1\r\nHost: x\r\nRange: bytes=39000-\r\n\r\nGET /files/f6 HTTP/1.1\r\nHost: x\r\n\r\n", 3))
	for i := range 6 {
		r := c.mustRead("GET")
		want := mid
		if i%2 == 0 {
			want = mid[39000:]
		}
		if !bytes.Equal(r.body, want) {
			t.Fatalf("pipelined answer %d: %d bytes, not the file's", i, len(r.body))
		}
	}
	etag := get("/files/f6").header.Get("ETag")
	for range 3 {
		if r := get("/files/f6", "If-None-Match: "+etag); r.status != 304 {
			t.Fatalf("If-None-Match: got %d, want 304", r.status)
		}
		c.send("HEAD /files/f6 HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := c.mustRead("HEAD"); r.status != 200 {
			t.Fatalf("HEAD: got %d", r.status)
		}
	}

	if r := request(t, p, "DELETE", "/files/f6", nil, ""); r.status != 204 {
		t.Fatalf("DELETE: got %d", r.status)
	}
	if held := deletedFilesHeld(t, p); len(held) > 0 {
		t.Errorf("after DELETE, the server holds deleted files open: %v", held)
	}
	// Replaced by another program, by rename: the new bytes within the
	// revalidation interval, and the old file let go.
	get("/files/f7")
	mustDo(t, os.WriteFile(filepath.Join(root, "f7.new"), []byte("replaced"), 0o644))
	mustDo(t, os.Rename(filepath.Join(root, "f7.new"), filepath.Join(root, "f7")))
	if !pollUntil(store.CacheRevalidate+2*time.Second, func() bool { return string(get("/files/f7").body) == "replaced" }) {
		t.Fatalf("a file replaced on disk was not seen within %v", store.CacheRevalidate)
	}
	if held := deletedFilesHeld(t, p); len(held) > 0 {
		t.Errorf("after a replacement on disk was seen, the server holds the old file open: %v", held)
	}
	// A write drops every held file: once it returned, a file still open
	// is a hold some request never gave back.
	if r := upload(t, p, "PUT", "/files/probe", []byte("x")); r.status != 201 {
		t.Fatalf("PUT: got %d", r.status)
	}
	if held := filesHeld(t, p); len(held) > 0 {
		t.Errorf("after a write, the server still holds files open: %v", held)
	}
}

// filesHeld lists the files under root that the server holds open,
// deleted ones marked " (deleted)".
func filesHeld(t *testing.T, p *serverProc) []string {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, p.root+"/") {
			held = append(held, target)
		}
	}
	return held
}

// deletedFilesHeld lists the deleted files under root the server holds
// open.
func deletedFilesHeld(t *testing.T, p *serverProc) []string {
	t.Helper()
	var deleted []string
	for _, f := range filesHeld(t, p) {
		if strings.HasSuffix(f, " (deleted)") {
			deleted = append(deleted, f)
		}
	}
	return deleted
}
